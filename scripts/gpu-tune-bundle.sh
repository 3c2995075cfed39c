#!/usr/bin/env bash
# Packs attnres-tune for a GPU machine without LLVM into .bundle-t/
# (git-ignored): the static build (scripts/build-static.sh), stripped and
# xz-compressed. On the GPU machine: scripts/gpu-all.sh tune.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
static=${ATTNRES_STATIC_BUILD_DIR:-$root/build-static}
out=$root/.bundle-t
ATTNRES_STATIC_TARGETS="attnres-tune" "$root/scripts/build-static.sh" >/dev/null
rm -rf "$out" && mkdir -p "$out"
strip -o "$out/attnres-tune" "$static/tools/attnres-tune/attnres-tune"
xz -T2 -6 "$out/attnres-tune"
echo "bundle: $(du -sh "$out" | cut -f1) in $out"
