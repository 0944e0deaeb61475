#!/usr/bin/env bash
# Configures and builds ClawOS into build/ (binaries in build/bin/).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"${CLAWOS_JOBS:-2}"
