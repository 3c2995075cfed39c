#!/usr/bin/env bash
# A/B of the kernels that differ between two sets of attnres-compile output,
# both checked against float64 and timed in one GPU run, in alternating
# rounds (a device's speed drifts between runs by more than most changes).
#   here:  scripts/gpu-ab.sh pack OLD_DIR NEW_DIR   # writes .bundle-ab/
#   there: scripts/gpu-ab.sh run [ROUNDS]           # default 2
# OLD_DIR and NEW_DIR hold PTX and metadata (attnres-compile -o) of the same
# specs from the two builds; only kernels whose PTX differs are kept. Carry
# .bundle-ab.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/.bundle-ab
case ${1:-} in
pack)
  old=${2:?old kernel directory}; new=${3:?new kernel directory}
  rm -rf "$out" && mkdir -p "$out/a" "$out/b"
  for ptx in "$new"/*.ptx; do
    name=$(basename "$ptx" .ptx)
    [ -e "$old/$name.ptx" ] || continue
    # The header comment names the compiler build; the code is what counts.
    cmp -s <(grep -v '^//' "$old/$name.ptx") <(grep -v '^//' "$ptx") && continue
    cp "$old/$name.ptx" "$old/$name.json" "$out/a/"
    cp "$ptx" "$new/$name.json" "$out/b/"
  done
  cp "${ATTNRES_BUILD_DIR:-$root/build}/tests/gpu/attnres-gpu-check" "$out/"
  echo "a/b: $(ls "$out/b" | grep -c '\.ptx$') kernels differ; carry .bundle-ab"
  ;;
run)
  for round in $(seq "${2:-2}"); do
    for side in a b; do
      echo "== $side, round $round"
      "$out/attnres-gpu-check" "$out/$side" --tokens 64 --time |
        grep -v '^PASS\|^device\|^$'
    done
  done
  ;;
*)
  sed -n '2,9p' "$0"; exit 2 ;;
esac
