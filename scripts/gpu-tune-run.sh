#!/usr/bin/env bash
# Runs the attnres-tune bundle of scripts/gpu-tune-bundle.sh on a GPU
# machine: the main sweep (N 2, 8, 32 x D 4096, bf16, forward and backward,
# M = 16384), then more shapes while time is left (ATTNRES_TUNE_BUDGET
# seconds in all, default 270), all merged into one database. Writes few
# files to ${OUT:-bundle/out}: tuning.json (the database), sweep.json,
# sweep.svg, summary.txt, and logs.tar.xz with every log, JSON and plot.
# The summaries are printed last, the main sweep's at the very end.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${OUT:-$here/out}
budget=${ATTNRES_TUNE_BUDGET:-270}
work=$(mktemp -d)
mkdir -p "$out"
[ -e "$here/attnres-tune" ] || xz -dk "$here/attnres-tune.xz"
chmod +x "$here/attnres-tune"
export ATTNRES_CACHE_DIR=$(mktemp -d)
if ! command -v ptxas >/dev/null && [ -x /usr/local/cuda/bin/ptxas ]; then
  export ATTNRES_PTXAS=/usr/local/cuda/bin/ptxas
fi
nvidia-smi --query-gpu=name,driver_version,memory.used,memory.total,clocks.sm,clocks.max.sm,clocks.mem,temperature.gpu,power.draw \
  --format=csv > "$work/gpu.txt" 2>&1
tune() { # tag, timeout, attnres-tune arguments...
  local tag=$1 limit=$2; shift 2
  timeout "$limit" "$here/attnres-tune" --tokens 16384 --db "$work/tuning.json" \
    --json "$work/$tag.json" --plot "$work/$tag.svg" "$@" \
    > "$work/$tag.log" 2> "$work/$tag.err"
  echo "$tag: exit $?" >> "$work/status.txt"
}
tune sweep $((budget - 20)) --sources 2,8,32 --width 4096 --dtype bf16 --direction all
left=$((budget - SECONDS)); [ "$left" -gt 40 ] && tune extra-n4-n16 $((left - 10)) --sources 4,16 --width 4096 --dtype bf16 --direction all
left=$((budget - SECONDS)); [ "$left" -gt 40 ] && tune extra-n8-d2048-d8192 $((left - 10)) --sources 8 --width 2048,8192 --dtype bf16 --direction all
left=$((budget - SECONDS)); [ "$left" -gt 40 ] && tune extra-n8-f16 $((left - 10)) --sources 8 --width 4096 --dtype f16 --direction all
left=$((budget - SECONDS)); [ "$left" -gt 40 ] && tune extra-n2-n32-d2048-d8192 $((left - 10)) --sources 2,32 --width 2048,8192 --dtype bf16 --direction all
rm -rf "$ATTNRES_CACHE_DIR"
{
  cat "$work/gpu.txt" "$work/status.txt"
  for f in "$work"/extra-*.log; do [ -e "$f" ] && sed -n '/^summary/,$p' "$f"; done
  grep -v '^\[\|: done$' "$work/sweep.err" | tail -5
  sed -n '/^summary/,$p' "$work/sweep.log"
} > "$work/summary.txt"
for f in tuning.json sweep.json sweep.svg summary.txt; do
  [ -e "$work/$f" ] && cp "$work/$f" "$out/"
done
tar -C "$work" -cJf "$out/logs.tar.xz" .
cat "$work/summary.txt"
