#!/usr/bin/env bash
# Regenerates the op and pass reference in docs/dialect/ from the TableGen
# definitions (dialect/AttnResOps.td, lowering/Passes.td), ready to commit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${ATTNRES_BUILD_DIR:-$root/build}
[ -f "$build/build.ninja" ] || "$root/scripts/build.sh"
# Build the tablegen outputs themselves, not mlir-doc: add_mlir_doc copies
# them under ${MLIR_BINARY_DIR}/docs, which is unset in an out-of-tree build.
ninja -C "$build" dialect/AttnResOps.md lowering/AttnResPasses.md
mkdir -p "$root/docs/dialect"
cp "$build/dialect/AttnResOps.md" "$root/docs/dialect/AttnResOps.md"
cp "$build/lowering/AttnResPasses.md" "$root/docs/dialect/AttnResPasses.md"
echo "wrote docs/dialect/AttnResOps.md and docs/dialect/AttnResPasses.md"
