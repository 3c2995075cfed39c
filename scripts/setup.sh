#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build and test attnres:
# LLVM/MLIR 22, GoogleTest, CMake, Ninja, and for the Python module its
# headers, pybind11, numpy and pytest. The CUDA toolkit (cuda.h for
# the driver loader, ptxas for the checks) is expected at /usr/local/cuda.
# Idempotent: packages already present are not fetched again.
set -euo pipefail

packages=(cmake ninja-build g++ git python3
          llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools
          libzstd-dev libedit-dev zlib1g-dev libgtest-dev libgmock-dev
          python3-dev pybind11-dev python3-numpy python3-pytest)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: run as root or install sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ ! -f /usr/local/cuda/include/cuda.h ]; then
  echo "setup: the CUDA toolkit (cuda.h, ptxas) is needed at /usr/local/cuda" \
       "(or pass -DATTNRES_CUDA_ROOT=... to scripts/build.sh)" >&2
  exit 1
fi
