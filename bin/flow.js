#!/usr/bin/env node
// Entry point of the `flow` command: the compiled CLI lives in dist/ (built by `npm ci` via `prepare`).
import { main } from '../dist/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(`flow: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
