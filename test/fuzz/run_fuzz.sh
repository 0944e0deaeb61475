#!/usr/bin/env bash
# run_fuzz.sh FUZZER SEED_DIR WORK_DIR SECONDS — runs a libFuzzer target for a
# bounded time from the committed seeds; exit 77 (SKIPPED) when it is not built.
set -u
fuzzer=$1 seeds=$2 work=$3 secs=$4
if [ ! -x "$fuzzer" ]; then
  echo "SKIPPED: $fuzzer is not built (it needs clang; scripts/test.sh builds it in build-fuzz/)"
  exit 77
fi
mkdir -p "$work"
exec "$fuzzer" -max_total_time="$secs" -max_len=9000 -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 "$work" "$seeds"
