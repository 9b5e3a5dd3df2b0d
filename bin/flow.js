#!/usr/bin/env node
// The `flow` command: runs the compiled CLI (dist/ is built by `npm ci` through the `prepare` script).
import '../dist/cli/bin.js';
