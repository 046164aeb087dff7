#!/bin/sh
# SPDX-License-Identifier: MIT
# run.sh: run every libFuzzer target of tests/fuzz for a while on a copy of its seed corpus.
#   tests/fuzz/run.sh BUILD_DIR SECONDS_EACH
# BUILD_DIR was configured with -DCMAKE_C_COMPILER=clang -DSTREAMY_BUILD_FUZZ=ON and built
# (target `fuzz`). Fails if any target crashes or breaks one of its properties; prints
# the executions and the coverage (libFuzzer's cov and ft) each target reached. The
# inputs it found are left in $STREAMY_FUZZ_WORK (default: a temporary directory,
# removed afterwards) and a crashing input as crash-* there.
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: run.sh BUILD_DIR SECONDS_EACH}
secs=${2:?usage: run.sh BUILD_DIR SECONDS_EACH}
work=${STREAMY_FUZZ_WORK:-}
keep=1
if [ -z "$work" ]; then
  work=$(mktemp -d "${TMPDIR:-/tmp}/streamy-fuzz.XXXXXX")
  keep=0
fi
mkdir -p "$work"

# Longest input of each target: larger inputs for the batch command (over-long lines,
# chunks of 1000 lines), short ones for the sequence and the server, so they stay fast.
max_len() {
  case $1 in
  batch) echo 8192 ;;
  sequence) echo 300 ;;
  http) echo 2048 ;;
  *) echo 1024 ;;
  esac
}

failed=""
passed=0
nfailed=0
summary=""
for src in "$here"/fuzz_*.c; do
  name=$(basename "$src" .c)
  name=${name#fuzz_}
  bin=$build/tests/fuzz/fuzz_$name
  if [ ! -x "$bin" ]; then
    echo "run.sh: $bin is missing (build the target 'fuzz')" >&2
    failed="$failed $name"
    continue
  fi
  corpus=$work/corpus-$name
  mkdir -p "$corpus"
  cp "$here/corpus/$name"/* "$corpus/" 2>/dev/null
  # The dictionary as one argument, whatever the path holds (spaces included).
  set --
  [ -f "$here/fuzz_$name.dict" ] && set -- "-dict=$here/fuzz_$name.dict"
  log=$work/$name.log
  echo "run.sh: fuzz_$name for ${secs}s on $(ls "$corpus" | wc -l) seeds"
  ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
    "$bin" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 \
    -max_len="$(max_len "$name")" -print_final_stats=1 -artifact_prefix="$work/$name-" \
    "$@" "$corpus" >"$log" 2>&1
  rc=$?
  # libFuzzer's last status line: "#N DONE cov: C ft: F corp: ... exec/s: E rss: ...".
  stats=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -1)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  cov=$(echo "$stats" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
  ft=$(echo "$stats" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
  corp=$(echo "$stats" | sed -n 's/.* corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p')
  line=$(printf '%-9s execs %-9s exec/s %-6s cov %-5s ft %-6s corpus %s' "$name" \
    "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}")
  if [ $rc -ne 0 ]; then
    echo "run.sh: fuzz_$name FAILED (exit $rc); the end of its log:" >&2
    tail -40 "$log" >&2
    ls "$work/$name"-* 2>/dev/null | sed 's/^/run.sh: input: /' >&2
    failed="$failed $name"
    line="$line  FAILED"
    keep=1
  else
    passed=$((passed + 1))
  fi
  echo "run.sh: $line"
  summary="$summary$line
"
done

echo "run.sh: fuzzing summary (${secs}s each):"
printf '%s' "$summary"
if [ "$keep" -eq 0 ]; then
  rm -rf "$work"
else
  echo "run.sh: logs and inputs in $work"
fi
nfailed=$(echo $failed | wc -w)
if [ -n "$failed" ]; then
  echo "run.sh: FAILED:$failed" >&2
  echo "fuzz: $passed passed, $nfailed failed"
  exit 1
fi
echo "run.sh: every fuzz target ran ${secs}s without a finding"
echo "fuzz: $passed passed, 0 failed"
