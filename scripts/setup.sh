#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build and test attnres:
# LLVM/MLIR 22, GoogleTest, pybind11, numpy, pytest, CMake and Ninja.
# Idempotent: packages already present are not fetched again.
set -euo pipefail

packages=(cmake ninja-build g++ git python3 python3-pip python3-numpy python3-pytest
          llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools
          libzstd-dev libedit-dev zlib1g-dev libgtest-dev libgmock-dev pybind11-dev)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The Python used by the tests must see numpy and pytest too (it may not be
# Debian's python3).
if ! python3 -c "import numpy, pytest" 2>/dev/null; then
  python3 -m pip install -q numpy pytest
fi

if [ ! -x /usr/local/cuda/bin/ptxas ]; then
  echo "setup: note: no CUDA toolkit at /usr/local/cuda; PTX is still generated," \
       "but the ptxas checks are skipped"
fi
