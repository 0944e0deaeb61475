#!/usr/bin/env bash
# run_fuzz.sh FUZZER SEED_DIR WORK_DIR SECONDS [DICT [ARTIFACT_PREFIX]] — runs
# a libFuzzer target for a bounded time from the committed seeds (every seed
# runs first, so a crash input kept as a seed is a regression test), with the
# target's dictionary when given; exit 77 (SKIPPED) when it is not built. New
# inputs go to WORK_DIR, a crash's input to ARTIFACT_PREFIX (default
# WORK_DIR/) + crash-<sha1> (the log names it). A unit running longer than
# CLAWOS_FUZZ_TIMEOUT seconds (default 10) is a finding: campaigns on a busy
# machine raise it (scripts/fuzz.sh: 60), as a starved process looks hung.
set -u
fuzzer=$1 seeds=$2 work=$3 secs=$4 dict=${5:-} artifacts=${6:-$3/}
if [ ! -x "$fuzzer" ]; then
  echo "SKIPPED: $fuzzer is not built (it needs clang; scripts/test.sh builds it in build-fuzz/)"
  exit 77
fi
args=()
if [ -n "$dict" ]; then
  [ -f "$dict" ] || { echo "no dictionary $dict"; exit 1; }
  args+=(-dict="$dict")
fi
mkdir -p "$work"
# libFuzzer's own exit code for a crash is 77, which ctest reads as SKIPPED:
# every finding (crash, leak, timeout) exits 1 instead (out of memory: 71).
exec "$fuzzer" -max_total_time="$secs" -max_len=9000 -timeout="${CLAWOS_FUZZ_TIMEOUT:-10}" -rss_limit_mb=2048 \
  -error_exitcode=1 -timeout_exitcode=1 -print_final_stats=1 -artifact_prefix="$artifacts" \
  "${args[@]}" "$work" "$seeds"
