#!/usr/bin/env bash
# Fresh machine to the main job: installs what is missing, builds, and runs
# attnres-opt on the canonical example.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
"$root/scripts/build.sh"
build=${ATTNRES_BUILD_DIR:-$root/build}
echo "== attnres-opt examples/attnres.mlir (verified and printed back)"
"$build/tools/attnres-opt/attnres-opt" "$root/examples/attnres.mlir"
