#!/usr/bin/env bash
# Packs what a GPU machine without LLVM needs into .bundle/ (git-ignored):
#  - attnres-gpu-check (plain C++) and PTX + metadata for a matrix of specs,
#  - the runtime's GPU test suite and benchmark, linked statically
#    (scripts/build-static.sh) and xz-compressed.
# On the GPU machine: scripts/gpu-all.sh check.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${ATTNRES_BUILD_DIR:-$root/build}
static=${ATTNRES_STATIC_BUILD_DIR:-$root/build-static}
out=$root/.bundle
rm -rf "$out" && mkdir -p "$out/kernels" "$out/kernels-cluster" "$out/kernels-cluster4" "$out/kernels-cluster7" "$out/kernels-cluster16" "$out/kernels-cluster16-8" "$out/kernels-two-tiles" "$out/kernels-per-token"
compile="$build/tools/attnres-compile/attnres-compile"
"$compile" --sources 1,2,3,8,17 --width 1,64,100,4096,5120 --dtype all --direction all -o "$out/kernels" >/dev/null
"$compile" --sources 32,64 --width 896,7168 --dtype bf16,f32 --direction all -o "$out/kernels" >/dev/null
"$compile" --sources 64 --width 16384 --dtype bf16 --direction all -o "$out/kernels" >/dev/null
# The shapes of the performance targets (bf16; fp16 and f32 at one width).
"$compile" --sources 2,4,8,16,32 --width 2048,4096,5120,7168,8192 --dtype bf16 --direction all -o "$out/kernels" >/dev/null
"$compile" --sources 2,8,32 --width 4096 --dtype f16,f32 --direction all -o "$out/kernels" >/dev/null
# The cluster form (backward; the heuristic takes it where one CTA cannot
# hold the tile) at every large-N target shape, checked and timed, and at
# N = 3 and 17 (rows' sums reduced in batches of four rows with a rest).
"$compile" --sources 16,32 --width 2048,4096,5120,7168,8192 --dtype bf16 --direction bwd --kernel-form cluster -o "$out/kernels-cluster" >/dev/null
"$compile" --sources 3,17 --width 4096 --dtype bf16,f32 --direction bwd --kernel-form cluster -o "$out/kernels-cluster" >/dev/null
"$compile" --sources 32 --width 7168,8192 --dtype bf16 --direction bwd --kernel-form cluster --cluster-size 4 -o "$out/kernels-cluster4" >/dev/null
# Clusters of sizes other than powers of two (D = 7168 = 7 x 1024) and past
# the portable 8 (non-portable sizes, opted in at load).
"$compile" --sources 3,32 --width 7168 --dtype bf16,f32 --direction bwd --kernel-form cluster --cluster-size 7 -o "$out/kernels-cluster7" >/dev/null
"$compile" --sources 3,32 --width 7168 --dtype f32 --direction bwd --kernel-form cluster --cluster-size 14 -o "$out/kernels-cluster16" >/dev/null
"$compile" --sources 32 --width 8192 --dtype f32 --direction bwd --kernel-form cluster --cluster-size 16 -o "$out/kernels-cluster16" >/dev/null
"$compile" --sources 32 --width 7168 --dtype f32 --direction bwd --kernel-form cluster --cluster-size 8 -o "$out/kernels-cluster16-8" >/dev/null
# The backward's ring deeper than its default one tile (two tiles: each
# consumed row's slot refilled with a row of the token after next).
"$compile" --sources 1,3 --width 100,4096 --dtype all --direction bwd --kernel-form smem --ring-stages 2 -o "$out/kernels-two-tiles" >/dev/null
"$compile" --sources 8 --width 100 --dtype all --direction bwd --kernel-form smem --ring-stages 2 -o "$out/kernels-two-tiles" >/dev/null
# The forward launched one CTA per token (grid = tokens), with registers
# budgeted for two CTAs an SM (ctas-per-sm).
"$compile" --sources 1,2,8,32 --width 100,4096,7168 --dtype all --direction fwd --grid tokens --ctas-per-sm 2 -o "$out/kernels-per-token" >/dev/null
cp "$build/tests/gpu/attnres-gpu-check" "$out/"
if [ "${ATTNRES_BUNDLE_RUNTIME:-1}" = 1 ]; then
  # ATTNRES_BUNDLE_BENCH=0 leaves the runtime benchmark out (carry size).
  targets="tests/gpu/attnres-runtime-gpu-tests"
  [ "${ATTNRES_BUNDLE_BENCH:-1}" = 1 ] && targets="$targets tools/attnres-bench-runtime/attnres-bench-runtime"
  ATTNRES_STATIC_TARGETS="$(for t in $targets; do basename "$t"; done | tr '\n' ' ')" \
    "$root/scripts/build-static.sh" >/dev/null
  for t in $targets; do
    strip -o "$out/$(basename "$t")" "$static/$t"
    xz -T2 -6 "$out/$(basename "$t")"
  done
fi
echo "bundle: $(ls "$out/kernels" | grep -c ptx) kernels, $(du -sh "$out" | cut -f1)"
