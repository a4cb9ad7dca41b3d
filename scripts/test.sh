#!/usr/bin/env bash
# Sets up (installs what is missing, builds with sanitizers) and runs the
# whole test suite through ctest.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export BUILD_DIR=${BUILD_DIR:-$top/build}
bash "$top/scripts/setup.sh"
cd "$BUILD_DIR"
ctest --output-on-failure -j2 "$@"
