#!/usr/bin/env bash
# Installs the Debian packages the maintainer scripts need (scripts/train/*.py, scripts/fixtures/*.py):
# the Fashion-MNIST IDX files, PyTorch, a threaded OpenBLAS and scikit-image. Tests and the main job
# do not need any of them. Packages already installed are skipped; apt-get update runs at most once.
set -euo pipefail
packages=(dataset-fashion-mnist python3-torch libopenblas0-pthread python3-skimage)
missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup-system: all of ${packages[*]} already installed"
  exit 0
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
echo "setup-system: installing ${missing[*]}"
"${sudo[@]}" apt-get update
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y "${missing[@]}"
