#!/usr/bin/env bash
# Every test: installs what the tests need, builds ClawOS (build/) and the
# libFuzzer targets with clang (build-fuzz/), then runs all tests with ctest.
# Fails when any test fails. Tests that need what this machine lacks report
# SKIPPED with the reason.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCLAWOS_FUZZ_ONLY=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build-fuzz -j"${CLAWOS_JOBS:-2}"
ctest --test-dir build --output-on-failure -j2 "$@"
