#!/bin/sh
# SPDX-License-Identifier: MIT
# pg_failover.sh: the PostgreSQL promotion window and the acknowledged subscribes lost,
# with an asynchronous and with a synchronous standby, median of N promotions each.
#
#   tests/bench/pg_failover.sh [--runs N] BUILD_DIR
#
# Each run is one pg_failover_* test (tests/pg/check_pg_failover.c) on a fresh pair
# (tests/pg/pg_pair.sh): `streamyctl serve --busy-timeout 2s` on the URI
# postgresql://…:P1,…:P2/postgres?target_session_attrs=read-write, 4 HTTP clients
# subscribing a new user each request; after 200 acknowledgements the primary's
# processes are killed (SIGKILL) and the standby promoted at once (pg_ctl promote -w);
# the run ends 200 acknowledgements later. Per run: the window (the longest time without
# an acknowledgement, from the kill on), the time pg_ctl promote took, and how many
# acknowledged subscribes the new primary does not have. Default N: 5.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
runs=5
if [ "${1:-}" = "--runs" ]; then
  runs=$2
  shift 2
fi
[ $# -eq 1 ] || { echo "usage: $0 [--runs N] BUILD_DIR" >&2; exit 2; }
build=$(cd "$1" && pwd)
test_bin=$build/tests/pg/check_pg_failover
ctl=$build/cli/streamyctl
[ -x "$test_bin" ] && [ -x "$ctl" ] || { echo "$0: build $test_bin and $ctl first" >&2; exit 1; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT

median() { sort -n | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

echo "| standby | runs | window, median (min–max) | pg_ctl promote, median | acknowledged lost, median (min–max; total) |"
echo "|---|---|---|---|---|"
for mode in async sync; do
  : >"$out"
  flag=""
  [ $mode = async ] || flag=--sync
  i=0
  while [ $i -lt "$runs" ]; do
    i=$((i + 1))
    CK_RUN_CASE=failover sh "$here/pg/pg_pair.sh" $flag "$test_bin" "$ctl" 2>/dev/null |
      sed -n 's/^failover: .* window \([0-9]*\) ms (promote took \([0-9]*\) ms), \([0-9]*\) acknowledged, \([0-9]*\) lost.*/\1 \2 \3 \4/p' >>"$out"
  done
  n=$(wc -l <"$out")
  [ "$n" -gt 0 ] || { echo "$0: no run of $mode succeeded" >&2; exit 1; }
  w=$(cut -d' ' -f1 "$out" | median)
  wmin=$(cut -d' ' -f1 "$out" | sort -n | head -1)
  wmax=$(cut -d' ' -f1 "$out" | sort -n | tail -1)
  p=$(cut -d' ' -f2 "$out" | median)
  l=$(cut -d' ' -f4 "$out" | median)
  lmin=$(cut -d' ' -f4 "$out" | sort -n | head -1)
  lmax=$(cut -d' ' -f4 "$out" | sort -n | tail -1)
  lsum=$(awk '{s += $4; a += $3} END {print s " of " a}' "$out")
  name=asynchronous
  [ $mode = async ] || name=synchronous
  echo "| $name | $n | $w ms ($wmin–$wmax) | $p ms | $l ($lmin–$lmax; $lsum) |"
done
