#!/usr/bin/env bash
# Installs everything flow needs on a fresh machine: the npm dependencies (which also builds dist/)
# and Debian's chromium, which the `flow serve` page test drives headless through playwright-core
# (playwright's own browser download cannot work without network access beyond the registries).
# Optional system packages for fixture generation and training (PyTorch, Fashion-MNIST) are installed
# by scripts/setup-system.sh, which tests do not require.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --no-audit --no-fund
if [ ! -x /usr/bin/chromium ]; then
  # Refresh the package lists only when they are missing or do not know chromium yet.
  if ! apt-cache show chromium >/dev/null 2>&1; then apt-get update -q; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
fi
