#!/usr/bin/env bash
# Runs the GPU work on a machine without LLVM, from the repository root, by
# stage (in the order given; default: all):
#   check   the kernel matrix and its variants (kernels-*) against float64
#           (.bundle/, scripts/gpu-bundle.sh) and the runtime's GPU suite
#   python  builds the Python module against the prebuilt core (.bundle-py/,
#           scripts/python-bundle.sh) and runs pytest (scripts/gpu-python.sh)
#   tune    attnres-tune (.bundle-t/, scripts/gpu-tune-bundle.sh) on the
#           shapes in ATTNRES_TUNE_ARGS (sweeps separated by ';'), merged
#           into $OUT/tuning.json
#   bench   bench/bench_ops.py (ATTNRES_BENCH_ARGS) -> $OUT/ops.json
#   train   bench/train_compare.py (ATTNRES_TRAIN_ARGS) -> $OUT/train.json
# ATTNRES_TUNE_LIMIT (per sweep) and ATTNRES_BENCH_LIMIT cap those stages
# (seconds);
# ATTNRES_PYTHON_TESTS=0 only builds the module; ATTNRES_CHECK_TIME=0 skips
# timing the cluster kernels. Pack everything here first
# with scripts/gpu-pack.sh. Only a few files come back from such a machine,
# so logs are gathered in $OUT/logs.tar.xz and each stage prints its summary.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-$root/.gpu-out}
logs=$(mktemp -d)
mkdir -p "$out"
status=0
stages=${*:-check python tune bench train}
export ATTNRES_CACHE_DIR=${ATTNRES_CACHE_DIR:-$(mktemp -d)}
if ! command -v ptxas >/dev/null && [ -x /usr/local/cuda/bin/ptxas ]; then
  export ATTNRES_PTXAS=/usr/local/cuda/bin/ptxas
fi
py=$root/build-py/package

stage() { echo; echo "== $1 ($(date +%T), ${SECONDS}s)"; }

for s in $stages; do
  case $s in
  check)
    stage check
    b=$root/.bundle
    for f in "$b"/*.xz; do [ -e "$f" ] && xz -dkf "$f"; done
    chmod +x "$b"/attnres-* 2>/dev/null
    "$b/attnres-gpu-check" "$b/kernels" --tokens 64 > "$logs/check.txt" 2>&1 || status=1
    grep -c "^PASS" "$logs/check.txt" | sed 's/^/kernels passed: /'
    grep -v "^PASS" "$logs/check.txt" | tail -8
    # Variants beside the defaults (explicit forms and knobs), checked and
    # timed.
    for d in "$b"/kernels-*; do
      [ -d "$d" ] || continue
      timing=--time; [ "${ATTNRES_CHECK_TIME:-1}" = 0 ] && timing=
      name=$(basename "$d")
      "$b/attnres-gpu-check" "$d" --tokens 64 $timing > "$logs/check-$name.txt" 2>&1 || status=1
      echo "$name: $(grep -c "^PASS" "$logs/check-$name.txt") passed"
      grep -v "^PASS" "$logs/check-$name.txt" | tail -12
    done
    if [ -x "$b/attnres-runtime-gpu-tests" ]; then
      "$b/attnres-runtime-gpu-tests" > "$logs/runtime-gpu.txt" 2>&1 || status=1
      tail -3 "$logs/runtime-gpu.txt"
    fi
    ;;
  python)
    stage python
    OUT=$logs bash "$root/scripts/gpu-python.sh" || status=1
    ;;
  tune)
    stage tune
    t=$root/.bundle-t
    [ -e "$t/attnres-tune" ] || xz -dk "$t/attnres-tune.xz"
    chmod +x "$t/attnres-tune"
    # Sweeps separated by ';' run one after another into one database.
    i=0
    IFS=';' read -ra sweeps <<< "${ATTNRES_TUNE_ARGS:---sources 8 --width 4096 --dtype bf16 --direction all}"
    for sweep in "${sweeps[@]}"; do
      i=$((i + 1))
      # shellcheck disable=SC2086
      timeout "${ATTNRES_TUNE_LIMIT:-300}" "$t/attnres-tune" --tokens 16384 --db "$out/tuning.json" \
        --json "$logs/tune-$i.json" --plot "$out/tune-$i.svg" $sweep \
        > "$logs/tune-$i.txt" 2> "$logs/tune-err-$i.txt" || status=1
      sed -n '/^summary/,$p' "$logs/tune-$i.txt" | head -40
    done
    ;;
  bench)
    stage bench
    # shellcheck disable=SC2086
    PYTHONPATH=$py timeout "${ATTNRES_BENCH_LIMIT:-3000}" python3 "$root/bench/bench_ops.py" --json "$out/ops.json" \
      ${ATTNRES_BENCH_ARGS:-} > "$logs/bench.txt" 2>&1 || status=1
    grep -v "^    " "$logs/bench.txt" | tail -70
    ;;
  train)
    stage train
    # shellcheck disable=SC2086
    PYTHONPATH=$py python3 "$root/bench/train_compare.py" --json "$out/train.json" \
      ${ATTNRES_TRAIN_ARGS:-} > "$logs/train.txt" 2>&1 || status=1
    tail -25 "$logs/train.txt"
    ;;
  *) echo "unknown stage $s"; status=2 ;;
  esac
done
tar -C "$logs" -cJf "$out/logs.tar.xz" .
echo "done in ${SECONDS}s, status $status"
exit $status
