#!/usr/bin/env bash
# Packs into .bundle-py/ (git-ignored) what a GPU machine without LLVM needs
# to build the Python module: the shared core libattnres.so of the static
# build (stripped, xz-compressed) and the headers the module includes,
# nothing else. On the GPU machine: scripts/gpu-python.sh.
#   ./scripts/python-bundle.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
static=${ATTNRES_STATIC_BUILD_DIR:-$root/build-static}
out=$root/.bundle-py
ATTNRES_STATIC_TARGETS="attnres attnres-compile" "$root/scripts/build-static.sh" >/dev/null
rm -rf "$out"
mkdir -p "$out/include/runtime" "$out/include/codegen" "$out/include/dialect"
strip --strip-unneeded -o "$out/libattnres.so" "$static/runtime/libattnres.so"
xz -T2 -6 "$out/libattnres.so"
# The public API and what it includes (plain C++, no LLVM or CUDA headers).
cp "$root/runtime/AttnRes.h" "$out/include/runtime/"
cp "$root/codegen/KernelSpec.h" "$root/codegen/PTXCodegen.h" "$out/include/codegen/"
cp "$root/dialect/Limits.h" "$out/include/dialect/"
echo "python bundle: $(du -sh "$out" | cut -f1) in $out"
