#!/usr/bin/env bash
# Installs everything flow needs on a fresh machine: the npm dependencies (which also builds dist/).
# Optional system packages for fixture generation and training (PyTorch, Fashion-MNIST) are installed
# by scripts/setup-system.sh, which tests do not require.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --no-audit --no-fund
