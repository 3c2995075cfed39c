#!/usr/bin/env bash
# Configures and builds attnres into ./build (Release, Ninja).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${ATTNRES_BUILD_DIR:-$root/build}
# The Python module and its tests use the interpreter scripts/setup.sh
# provisions (Debian's, with numpy, pytest and pybind11), not whichever
# python3 comes first on PATH; ATTNRES_PYTHON overrides.
python=${ATTNRES_PYTHON:-/usr/bin/python3}
if [ ! -f "$build/build.ninja" ]; then
  cmake -G Ninja -S "$root" -B "$build" \
    -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir \
    -DCMAKE_BUILD_TYPE=Release -DPython3_EXECUTABLE="$python" "$@"
fi
ninja -C "$build"
