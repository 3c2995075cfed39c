#!/usr/bin/env bash
# Builds the GPU compile path against the static MLIR/LLVM libraries
# (-DATTNRES_STATIC_LLVM=ON) into ./build-static, so that attnres-compile and
# the runtime library run on a machine without LLVM. The stripped compiler
# lands in build-static/bin/. Extra arguments go to the first cmake
# configure; ATTNRES_STATIC_TARGETS overrides the targets built.
#   ./scripts/build-static.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${ATTNRES_STATIC_BUILD_DIR:-$root/build-static}
mlir_dir=${MLIR_DIR:-/usr/lib/llvm-22/lib/cmake/mlir}
targets=${ATTNRES_STATIC_TARGETS:-attnres-compile AttnResRuntime}
if [ ! -f "$build/build.ninja" ]; then
  cmake -G Ninja -S "$root" -B "$build" \
    -DMLIR_DIR="$mlir_dir" \
    -DCMAKE_BUILD_TYPE=Release \
    -DATTNRES_STATIC_LLVM=ON "$@"
fi
# shellcheck disable=SC2086
ninja -C "$build" $targets

mkdir -p "$build/bin"
strip -o "$build/bin/attnres-compile" "$build/tools/attnres-compile/attnres-compile"
echo "stripped: $build/bin/attnres-compile ($(du -h "$build/bin/attnres-compile" | cut -f1))"
echo "shared libraries:"
ldd "$build/bin/attnres-compile" | sed -E 's/ \(0x[0-9a-f]+\)$//; s/^\s+/  /'
