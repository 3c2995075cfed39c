#!/usr/bin/env bash
# Fresh machine to full test run: installs what is missing, builds, and runs
# every suite (lit, malformed corpus and fuzzing, ptxas matrix, GoogleTest,
# GPU suites that skip without a GPU) under ctest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
"$root/scripts/build.sh"
cd "${ATTNRES_BUILD_DIR:-$root/build}"
ctest --output-on-failure -j2
