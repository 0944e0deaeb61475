#!/usr/bin/env bash
# A fuzzing campaign: scripts/fuzz.sh TARGET|all [--minutes N] [--no-build] [--merge-seeds]
#
# Builds the libFuzzer targets with clang in build-fuzz/ (configuring it the
# first time) unless --no-build, then runs each target for N minutes
# (default 10), one after the other, from its seeds (test/fuzz/corpus/<target>)
# with its dictionary (test/fuzz/dict/<target>.dict). New inputs go to a work
# corpus, build-fuzz/corpus-<target>, kept between campaigns; nothing is
# merged back into the seeds unless --merge-seeds (a minimizing merge of the
# work corpus into test/fuzz/corpus/<target>; review it before committing).
# A crash's input lands in build-fuzz/crashes-<target>/ and the log in
# build-fuzz/fuzz-<target>.log. Prints exec/s and corpus size per target;
# exits 1 when a target crashed. TARGET is a name like http1 (or http1_fuzz).
# A unit that runs past CLAWOS_FUZZ_TIMEOUT seconds (default here 60, in
# ctest 10) counts as a hang: a campaign shares the machine with builds, and
# a starved process must not look hung.
# docs/testing.md, "Fuzzing".
set -euo pipefail
cd "$(dirname "$0")/.."
export CLAWOS_FUZZ_TIMEOUT=${CLAWOS_FUZZ_TIMEOUT:-60}

usage() {
  echo "usage: scripts/fuzz.sh TARGET|all [--minutes N] [--no-build] [--merge-seeds]" >&2
  echo "targets: $(ls test/fuzz/*_fuzz.cc | sed 's|.*/||; s|_fuzz.cc||' | tr '\n' ' ')" >&2
  exit 2
}

[ $# -ge 1 ] || usage
what=${1%_fuzz}
shift
minutes=10 build=1 merge=0
while [ $# -gt 0 ]; do
  case $1 in
    --minutes) minutes=${2:?}; shift 2 ;;
    --minutes=*) minutes=${1#*=}; shift ;;
    --no-build) build=0; shift ;;
    --merge-seeds) merge=1; shift ;;
    *) usage ;;
  esac
done
[[ $minutes =~ ^[0-9]+$ && $minutes -gt 0 ]] || { echo "--minutes takes a whole number > 0" >&2; exit 2; }

if [ "$what" = all ]; then
  targets=$(ls test/fuzz/*_fuzz.cc | sed 's|.*/||; s|_fuzz.cc||')
elif [ -f "test/fuzz/${what}_fuzz.cc" ]; then
  targets=$what
else
  echo "no fuzz target \"$what\"" >&2
  usage
fi

if [ $build = 1 ]; then
  if [ ! -f build-fuzz/CMakeCache.txt ]; then
    CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCLAWOS_FUZZ_ONLY=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
  fi
  cmake --build build-fuzz -j"${CLAWOS_JOBS:-2}" $(for t in $targets; do echo --target "${t}_fuzz"; done)
fi

summary=() failed=0
for t in $targets; do
  work=build-fuzz/corpus-$t crashes=build-fuzz/crashes-$t log=build-fuzz/fuzz-$t.log
  mkdir -p "$work" "$crashes"
  echo "== $t: $minutes min (log: $log)"
  rc=0
  # run_fuzz.sh writes new inputs to its work directory and crashes beside
  # them; the crash directory is given by pointing artifact_prefix at it.
  test/fuzz/run_fuzz.sh "build-fuzz/bin/${t}_fuzz" "test/fuzz/corpus/$t" "$work" \
    $((minutes * 60)) "test/fuzz/dict/$t.dict" "$crashes/" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  corp=$(grep -o 'corp: [0-9]*/[0-9A-Za-z]*' "$log" | tail -1 | cut -d' ' -f2)
  if [ $rc = 0 ]; then
    status=ok
  elif [ $rc = 77 ]; then
    status="not built"
    failed=1
  else
    status="CRASH (exit $rc): $(ls "$crashes" | tr '\n' ' ')"
    failed=1
    grep -m3 -E '^==[0-9]+==ERROR|runtime error|^SUMMARY' "$log" || true
  fi
  if [ $merge = 1 ] && [ $rc = 0 ]; then
    "build-fuzz/bin/${t}_fuzz" -merge=1 -max_len=9000 "test/fuzz/corpus/$t" "$work" >>"$log" 2>&1
  fi
  line=$(printf '%-14s exec/s %-8s corpus %-12s work files %-6s %s' "$t" "${execs:-?}" \
    "${corp:-?}" "$(ls "$work" | wc -l)" "$status")
  echo "$line"
  summary+=("$line")
done
echo "== summary ($minutes min per target)"
printf '%s\n' "${summary[@]}"
exit $failed
