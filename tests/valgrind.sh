#!/bin/sh
# SPDX-License-Identifier: MIT
# valgrind.sh: every ctest test under valgrind memcheck, and with it every process the
# tests start from the build tree (streamyctl serve, forked children, Check's forks).
#
#   tests/valgrind.sh BUILD_DIR [CTEST-ARGS...]
#
# BUILD_DIR is configured (test timeouts scaled by STREAMY_TEST_TIMEOUT_MULTIPLIER,
# default 20) and built first; a plain, non-sanitized build. Each process writes its
# report to BUILD_DIR/valgrind/PID.log. A test fails when valgrind finds an invalid
# access or a leak (definitely or indirectly lost) in it or in a program it started
# (exit code 99), and the script fails when any report holds an error.
set -eu
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR [CTEST-ARGS...]" >&2; exit 2; }
build=$1; shift
src=$(cd "$(dirname "$0")/.." && pwd)
mult=${STREAMY_TEST_TIMEOUT_MULTIPLIER:-20}
vg=$(command -v valgrind) || { echo "valgrind.sh: valgrind is missing (apt-get install valgrind)" >&2; exit 2; }

cmake -S "$src" -B "$build" -DSTREAMY_TEST_TIMEOUT_MULTIPLIER="$mult" >/dev/null
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)"
build=$(cd "$build" && pwd) # the tests run in directories of their own
logs=$build/valgrind
rm -rf "$logs"
mkdir -p "$logs"
chmod 1777 "$logs" # tests run some programs as another user
export STREAMY_TEST_TIMEOUT_MULTIPLIER="$mult"

# Programs outside the build tree (sh, redis-server, postgres, the compilers) run
# natively; the build tree's own run under memcheck.
opts="--leak-check=full --show-leak-kinds=definite,indirect"
opts="$opts --errors-for-leak-kinds=definite,indirect --error-exitcode=99"
opts="$opts --trace-children=yes --trace-children-skip=/usr/*,/bin/*,/sbin/*,/lib/*"
opts="$opts --child-silent-after-fork=no --num-callers=40"
# ctest splits these options at spaces outside double quotes: the paths are quoted, so
# that a build under a directory with spaces in its name works.
opts="$opts \"--suppressions=$src/tests/valgrind.supp\" \"--log-file=$logs/%p.log\""

status=0
# packaging installs and compiles: nothing of ours runs there that other tests miss.
# STREAMY_VALGRIND_EXCLUDE (a regular expression) leaves out more tests.
ctest --test-dir "$build" -T memcheck --overwrite "MemoryCheckCommand=$vg" \
  --overwrite "MemoryCheckCommandOptions=$opts" \
  -E "^(packaging${STREAMY_VALGRIND_EXCLUDE:+|$STREAMY_VALGRIND_EXCLUDE})\$" \
  --output-on-failure "$@" || status=1

bad=$(grep -l -E "ERROR SUMMARY: [1-9]|(definitely|indirectly) lost: [1-9]" "$logs"/*.log 2>/dev/null || true)
n=$(ls "$logs" | wc -l)
if [ -n "$bad" ]; then
  for f in $bad; do
    echo "==== $f"
    cat "$f"
  done
  echo "valgrind.sh: errors in $(echo "$bad" | wc -l) of $n processes" >&2
  exit 1
fi
if [ "$n" -eq 0 ]; then
  echo "valgrind.sh: no process was checked" >&2
  exit 1
fi
echo "valgrind.sh: $n processes checked, no invalid access, no leak"
exit $status
