#!/usr/bin/env bash
# Feeds every file of the malformed-input corpus to attnres-opt (plain, and
# through the canonicalizer and the lowering pipelines) and fails if any run
# crashes (signal, abort), hangs, or exits 0: each input must be answered
# with a diagnostic and a non-zero exit status.
set -u
opt=$1; dir=$2
failures=0; count=0
# One argv element per pipeline: pipeline options contain spaces.
pipelines=("" "--canonicalize" "--attnres-decompose" "--attnres-to-cpu"
           "--attnres-to-ptx=n=8 d=4096 dtype=bf16")
for input in "$dir"/*.mlir; do
  for pipeline in "${pipelines[@]}"; do
    count=$((count + 1))
    args=()
    [ -n "$pipeline" ] && args=("$pipeline")
    err=$(timeout 60 "$opt" "${args[@]}" "$input" -o /dev/null 2>&1)
    status=$?
    if [ $status -eq 0 ]; then
      echo "FAIL (accepted): $input $pipeline"; failures=$((failures + 1))
    elif [ $status -ge 124 ]; then
      echo "FAIL (crash or hang, status $status): $input $pipeline"
      echo "$err" | head -5; failures=$((failures + 1))
    elif ! grep -q "error" <<<"$err"; then
      echo "FAIL (no diagnostic): $input $pipeline"; failures=$((failures + 1))
    fi
  done
done
echo "malformed corpus: $count runs, $((count - failures)) passed, $failures failed"
[ $failures -eq 0 ]
