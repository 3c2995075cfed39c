#!/usr/bin/env bash
# Packs everything scripts/gpu-all.sh runs on a GPU machine without LLVM:
# .bundle/ (kernel matrix, checker, runtime GPU suite), .bundle-py/ (the
# prebuilt core for the Python module) and .bundle-t/ (attnres-tune). Carry
# those three folders. Builds ./build and ./build-static first if needed.
#   ./scripts/gpu-pack.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/build.sh" >/dev/null
ATTNRES_STATIC_TARGETS="attnres attnres-compile attnres-runtime-gpu-tests attnres-tune" \
  "$root/scripts/build-static.sh" >/dev/null
ATTNRES_BUNDLE_BENCH=0 "$root/scripts/gpu-bundle.sh"
"$root/scripts/python-bundle.sh"
"$root/scripts/gpu-tune-bundle.sh"
du -sh "$root"/.bundle "$root"/.bundle-py "$root"/.bundle-t
