#!/usr/bin/env bash
# Installs everything flow needs on a fresh machine: the npm dependencies (which also builds dist/),
# and, on Debian/Ubuntu as root, the system packages the tests drive: the EGL libraries the webgpu
# tests run on (Dawn's OpenGL ES route on Mesa's software rasteriser; README "Backends") and
# Debian's chromium, which the `flow serve` page test drives headless through playwright-core
# (playwright's own browser download cannot work without network access beyond the registries).
# Optional system packages for fixture generation and training (PyTorch, Fashion-MNIST) are
# installed by scripts/setup-system.sh, which tests do not require.
set -euo pipefail
cd "$(dirname "$0")/.."

EGL_PACKAGES=(libegl1 libegl-mesa0)
egl_missing() {
  for p in "${EGL_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || return 0
  done
  return 1
}
if command -v apt-get >/dev/null && egl_missing; then
  if [ "$(id -u)" -eq 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends "${EGL_PACKAGES[@]}" || {
      apt-get update
      apt-get install -y --no-install-recommends "${EGL_PACKAGES[@]}"
    }
  else
    echo "setup: ${EGL_PACKAGES[*]} are not installed and this is not root: the webgpu tests will be skipped" >&2
  fi
fi

npm ci --no-audit --no-fund
if [ ! -x /usr/bin/chromium ]; then
  # Refresh the package lists only when they are missing or do not know chromium yet.
  if ! apt-cache show chromium >/dev/null 2>&1; then apt-get update -q; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
fi
