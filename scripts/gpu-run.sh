#!/usr/bin/env bash
# Runs the bundle of scripts/gpu-bundle.sh on a GPU machine: the kernel
# matrix against float64 with timings, the runtime's GPU suite and its
# benchmark. Logs go to ${OUT:-.bundle/out}.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bundle=$root/.bundle
out=${OUT:-$bundle/out}
mkdir -p "$out"
status=0
for f in "$bundle"/*.xz; do [ -e "$f" ] && xz -dkf "$f"; done
chmod +x "$bundle"/attnres-* 2>/dev/null
"$bundle/attnres-gpu-check" "$bundle/kernels" --tokens 64 --time > "$out/gpu_check.log" 2>&1 || status=1
grep -v "^PASS" "$out/gpu_check.log" | head -20
"$bundle/attnres-gpu-check" "$bundle/kernels-cluster" --tokens 64 --time > "$out/gpu_check_cluster.log" 2>&1 || status=1
grep -v "^PASS" "$out/gpu_check_cluster.log" | head -12
if [ -x "$bundle/attnres-runtime-gpu-tests" ]; then
  ATTNRES_CACHE_DIR=$out/cache "$bundle/attnres-runtime-gpu-tests" > "$out/runtime_gpu.log" 2>&1 || status=1
  tail -3 "$out/runtime_gpu.log"
  ATTNRES_CACHE_DIR=$out/cache-bench "$bundle/attnres-bench-runtime" --json "$out/bench_runtime.json" > "$out/bench_runtime.log" 2>&1 || status=1
  tail -15 "$out/bench_runtime.log"
fi
exit $status
