#!/usr/bin/env bash
# Packs what a GPU machine without LLVM needs to check the generated kernels:
# the plain-C++ checker and PTX + metadata for a matrix of specs, into
# .bundle/ (git-ignored). Run there: .bundle/attnres-gpu-check .bundle/kernels --time
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${ATTNRES_BUILD_DIR:-$root/build}
out=$root/.bundle
rm -rf "$out" && mkdir -p "$out/kernels"
compile="$build/tools/attnres-compile/attnres-compile"
"$compile" --sources 1,2,3,8,17 --width 1,64,100,4096,5120 --dtype all --direction all -o "$out/kernels" >/dev/null
"$compile" --sources 32,64 --width 896,7168 --dtype bf16,f32 --direction all -o "$out/kernels" >/dev/null
"$compile" --sources 64 --width 16384 --dtype bf16 --direction all -o "$out/kernels" >/dev/null
# The shapes of the performance targets (bf16; fp16 and f32 at one width).
"$compile" --sources 2,4,8,16,32 --width 2048,4096,5120,7168,8192 --dtype bf16 --direction all -o "$out/kernels" >/dev/null
"$compile" --sources 2,8,32 --width 4096 --dtype f16,f32 --direction all -o "$out/kernels" >/dev/null
cp "$build/tests/gpu/attnres-gpu-check" "$out/"
echo "bundle: $(ls "$out/kernels" | grep -c ptx) kernels, $(du -sh "$out" | cut -f1)"
