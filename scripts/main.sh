#!/usr/bin/env bash
# Fresh machine to the main job: installs what is missing, builds, shows the
# canonical example in the dialect, lowers it to PTX, then compiles the
# N=8, D=4096, bf16 kernels and runs forward and backward (on the GPU if
# there is one, else on the CPU path), checked against float64.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
"$root/scripts/build.sh"
build=${ATTNRES_BUILD_DIR:-$root/build}
opt="$build/tools/attnres-opt/attnres-opt"
echo "== attnres-opt examples/attnres.mlir (verified and printed back)"
"$opt" "$root/examples/attnres.mlir"
ptx=$(mktemp -d)
echo "== attnres-opt --attnres-to-ptx: PTX for sm_90a written to $ptx"
"$opt" "$root/examples/attnres.mlir" -o /dev/null \
  --attnres-to-ptx="n=8 d=4096 dtype=bf16 chip=sm_90a dump-ptx=$ptx"
grep -H -m1 "^\.entry\|^\.visible \.entry" "$ptx"/*.ptx || ls -l "$ptx"
echo "== attnres-run: compile and run forward + backward"
"$build/tools/attnres-run/attnres-run" --sources 8 --width 4096 --dtype bf16 --tokens 256
