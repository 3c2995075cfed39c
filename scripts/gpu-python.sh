#!/usr/bin/env bash
# Run on a GPU machine without LLVM, from the repository root: unpacks the
# core of .bundle-py/ (scripts/python-bundle.sh), builds the Python module
# against it with cmake and ninja (pybind11 from pip), and runs pytest on
# tests/python (ATTNRES_PYTHON_TESTS=0: build only). Logs go to
# ${OUT:-.bundle-py/out}.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bundle=$root/.bundle-py
out=${OUT:-$bundle/out}
build=${ATTNRES_PY_BUILD_DIR:-$root/build-py}
python=$(command -v "${PYTHON:-python3}")
mkdir -p "$out" "$build/core"

xz -dc "$bundle/libattnres.so.xz" > "$build/core/libattnres.so"
rm -rf "$build/core/include" && cp -r "$bundle/include" "$build/core/include"

if ! { cmake -G Ninja -S "$root/python" -B "$build" \
         -DATTNRES_CORE_DIR="$build/core" \
         -DPython3_EXECUTABLE="$python" \
         -Dpybind11_DIR="$("$python" -m pybind11 --cmakedir)" &&
       ninja -C "$build"; } > "$out/build.log" 2>&1; then
  tail -30 "$out/build.log"
  echo "gpu-python: the module did not build (log: $out/build.log)"
  exit 1
fi
echo "gpu-python: built $(ls "$build"/package/attnres/_C*.so)"
# ATTNRES_PYTHON_TESTS=0: build only (for the benchmarks).
[ "${ATTNRES_PYTHON_TESTS:-1}" = 0 ] && exit 0

cd "$root"
PYTHONPATH=$build/package ATTNRES_CACHE_DIR=$build/kernel-cache \
  "$python" -m pytest -v -s -rs -p no:cacheprovider tests/python > "$out/pytest.log" 2>&1
status=$?
# The measured errors and the compile result, then pytest's verdicts.
grep -oE "max error .*|torch.compile: .*" "$out/pytest.log" | sort -u
grep -E "(FAILED|ERROR)" "$out/pytest.log" | head -20
tail -6 "$out/pytest.log"
exit $status
