#!/bin/sh
# SPDX-License-Identifier: MIT
# bench_pg.sh: the PostgreSQL store's decisions per second (streamy_bench --pg) beside
# its ceiling, pgbench running the store's own function calls, on one throwaway server
# (pg_harness.sh), alternating library and ceiling round by round.
#
#   tests/pg/bench_pg.sh [--rounds N] [--seconds S] [--users LIST] BUILD_DIR
#
# streamy_bench pre-populates the library's schemas once, then runs its rounds; after
# each round its hook (STREAMY_BENCH_ROUND_HOOK, this script with --hook) measures the
# ceiling, so library and ceiling alternate round by round on the same server:
#   library  streamy_bench --pg, one thread, one connection, for every user count U
#            (default 1000 and 1000000): single calls (subscribe then unsubscribe of a
#            random pre-populated user, each one prepared call) and batches of 100 (50
#            such pairs, one streamy_apply)
#   ceiling  pgbench -n -M prepared -c 1 -T S, one connection, on a schema of its own
#            pre-populated with as many users:
#            single:   the same two prepared statements, per transaction
#            batch100: BEGIN, 50 such pairs (100 calls), COMMIT
#            apply100: one call of the batch function with the same 100 operations,
#                      which is what the library sends for a batch
#   Every pgbench call checks its answer (\gset, \if) and aborts the run on a wrong one.
# Before every measurement the server settles: VACUUM ANALYZE, CHECKPOINT. The tables
# give medians over the rounds and the median of the per-round time ratios.
# Set STREAMY_PG_OPTIONS (e.g. "-c fsync=on") to change the server's settings.
set -eu
here=$(cd "$(dirname "$0")" && pwd)

# The hook, run by streamy_bench after its warm-up (round 0, not recorded) and after
# each round: the ceiling for every user count, between two settlings.
if [ "${1:-}" = --hook ]; then
  . "$BENCH_PG_TMP/env"
  r=$STREAMY_BENCH_ROUND
  sh -c "$settle"
  for u in $(echo "$users" | tr ',' ' '); do
    lab=$(label "$u")
    if [ "$r" -eq 0 ]; then
      for m in single batch apply; do ceiling $m "$u" 1 1 >/dev/null; done
      continue
    fi
    s=$(ceiling single "$u" 2 "$seconds") b=$(ceiling batch "$u" 100 "$seconds")
    a=$(ceiling apply "$u" 100 "$seconds")
    echo "ceiling single $lab $r $s" >>"$BENCH_PG_TMP/results"
    echo "ceiling batch100 $lab $r $b" >>"$BENCH_PG_TMP/results"
    echo "apply batch100 $lab $r $a" >>"$BENCH_PG_TMP/results"
    echo "round $r: pgbench $lab: 2 calls $s/s, 100 calls a transaction $b/s, one apply of 100 $a/s" >&2
  done
  sh -c "$settle"
  exit 0
fi

rounds=5 seconds=5 users=1000,1000000
while [ $# -gt 1 ]; do
  case $1 in
  --rounds) rounds=$2; shift 2 ;;
  --seconds) seconds=$2; shift 2 ;;
  --users) users=$2; shift 2 ;;
  *) break ;;
  esac
done
[ $# -eq 1 ] || { echo "usage: $0 [--rounds N] [--seconds S] [--users LIST] BUILD_DIR" >&2; exit 2; }
case $seconds in *[!0-9]* | "") echo "bench_pg: --seconds must be whole seconds (pgbench -T)" >&2; exit 2 ;; esac
build=$(cd "$1" && pwd)
if [ -z "${STREAMY_PG_URI:-}" ]; then
  exec sh "$here/pg_harness.sh" sh "$here/bench_pg.sh" --rounds "$rounds" --seconds "$seconds" \
    --users "$users" "$build"
fi
bench=$build/tests/bench/streamy_bench
ctl=$build/cli/streamyctl
[ -x "$bench" ] && [ -x "$ctl" ] || { echo "bench_pg: build $build first (streamy_bench, streamyctl)" >&2; exit 2; }
[ -x "$STREAMY_PG_BINDIR/pgbench" ] || { echo "bench_pg: pgbench is missing (Debian package postgresql)" >&2; exit 2; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/streamy-pgbench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# What the hook needs too: written once, read by every hook run.
cat >"$tmp/env" <<EOF
users='$users' seconds='$seconds'
psql="$STREAMY_PG_BINDIR/psql -X -q -v ON_ERROR_STOP=1"
export PGOPTIONS="-c client_min_messages=warning"
# Before every measurement: vacuum and analyze what was just loaded or churned, and
# checkpoint, so that no run pays for another's aftermath.
settle="\$psql -c 'VACUUM ANALYZE' -c CHECKPOINT"
label() { awk -v u="\$1" 'BEGIN { if (u % 1000000 == 0) print "u" u / 1000000 "M"; else if (u % 1000 == 0) print "u" u / 1000 "k"; else print "u" u }'; }
# ceiling MODE U PER_TXN SECONDS: decisions per second of one pgbench run.
ceiling() {
  if ! "$STREAMY_PG_BINDIR/pgbench" -n -M prepared -c 1 -j 1 -T "\$4" -f "$tmp/\$1-\$2.sql" \\
      "$STREAMY_PG_URI" >"$tmp/pgbench.out" 2>&1 || grep -q -i abort "$tmp/pgbench.out"; then
    cat "$tmp/pgbench.out" >&2
    echo "bench_pg: pgbench \$1 for \$2 users failed" >&2
    exit 1
  fi
  awk -v n="\$3" '/^tps = / { printf "%.0f\n", \$3 * n }' "$tmp/pgbench.out"
}
EOF
. "$tmp/env"

# The library's streams are UUIDs; so are the ceiling's, and its users are UUID-shaped
# too, computed from the user's number by the server: 36 bytes each, as in the library.
first=00000000-0000-4000-8000-00000000f1f1
second=00000000-0000-4000-8000-00000000f2f2
uid() { echo "('00000000-0000-4000-8000-' || lpad(:$1::text, 12, '0'))"; }

# The ceiling's schema for U users: created by the library, filled in random order.
populate() {
  u=$1 s=ceil_$1
  "$ctl" --db "$STREAMY_PG_URI?streamy_schema=$s" health >/dev/null
  $psql -c "INSERT INTO $s.users (user_id) SELECT '00000000-0000-4000-8000-' || lpad(k::text, 12, '0') FROM generate_series(0, $u - 1) k ORDER BY md5(k::text)" \
        -c "INSERT INTO $s.leases SELECT '00000000-0000-4000-8000-' || lpad(k::text, 12, '0'), '$first', 0, 0, 0, gen_random_uuid() FROM generate_series(0, $u - 1) k ORDER BY md5(k::text)"
}

# The calls, exactly as lib/stores/pg.c prepares them (clock NULL: the server's; no
# device, no fence; the new lease's id, which the library makes, made by the server).
# printf, not echo: dash's echo reads backslashes.
line() { printf '%s\n' "$@"; }
acquire() {
  line "SELECT rc, created FROM $2.acquire($(uid "$1"), '$second', NULL, 0, 3, 0, false, gen_random_uuid(), NULL) \gset a_" \
    '\if :a_rc != 0 or not :a_created' '\set failed 1 / 0' '\endif'
}
release() {
  line "DELETE FROM $2.leases WHERE user_id = $(uid "$1") AND stream_id = '$second' RETURNING expires_ms = 0 OR expires_ms > (SELECT coalesce(NULL::bigint, $2.now_ms())) AS removed, lease_id, device \gset r_" \
    '\if not :r_removed' '\set failed 1 / 0' '\endif'
}

scripts() {
  u=$1 s=ceil_$1
  { line "\\set k random(0, $u - 1)"; acquire k "$s"; release k "$s"; } >"$tmp/single-$u.sql"
  { i=0; while [ $i -lt 50 ]; do line "\\set k$i random(0, $u - 1)"; i=$((i + 1)); done
    line "BEGIN;"
    i=0; while [ $i -lt 50 ]; do acquire "k$i" "$s"; release "k$i" "$s"; i=$((i + 1)); done
    line "COMMIT;"; } >"$tmp/batch-$u.sql"
  { i=0; while [ $i -lt 50 ]; do line "\\set k$i random(0, $u - 1)"; i=$((i + 1)); done
    kinds="" users_="" streams="" limits="" ids=""
    i=0; while [ $i -lt 50 ]; do
      kinds="$kinds${kinds:+,}1,2"
      users_="$users_${users_:+, }$(uid "k$i"), $(uid "k$i")"
      streams="$streams${streams:+,}'$second','$second'"
      limits="$limits${limits:+,}3,3"
      ids="$ids${ids:+,}gen_random_uuid(),NULL"
      i=$((i + 1))
    done
    line "SELECT count(*) FILTER (WHERE rc = 0 AND (created OR removed)) AS good FROM $s.apply(ARRAY[$kinds], ARRAY[$users_], ARRAY[$streams], NULL, 0, ARRAY[$limits], 0, false, ARRAY[$ids]::uuid[], NULL, NULL) \\gset" \
      '\if :good != 100' '\set failed 1 / 0' '\endif'; } >"$tmp/apply-$u.sql"
}

: >"$tmp/results"
for u in $(echo "$users" | tr ',' ' '); do
  t0=$(date +%s)
  populate "$u"
  scripts "$u"
  echo "bench_pg: the ceiling's $u users pre-populated in $(( $(date +%s) - t0 )) s" >&2
done
echo "bench_pg: $("$STREAMY_PG_BINDIR/postgres" --version), port $STREAMY_PG_PORT, settings: fsync=off ${STREAMY_PG_OPTIONS:-}; $rounds rounds of ${seconds}s" >&2

export STREAMY_BENCH_PG_SETTLE="$settle"
export STREAMY_BENCH_ROUND_HOOK="sh '$here/bench_pg.sh' --hook"
export BENCH_PG_TMP="$tmp"
"$bench" --pg "$STREAMY_PG_URI" --filter 'postgresql/*/t1/*' --threads 1 --users "$users" \
  --rounds "$rounds" --seconds "$seconds" --warmup 1 >"$tmp/lib.out" 2>"$tmp/lib.err" ||
  { cat "$tmp/lib.err" "$tmp/lib.out" >&2; exit 1; }
grep -h "pre-populated\|^round" "$tmp/lib.err" >&2 || true
# streamy_bench's own lines: "round 1/5  postgresql/single/t1/u1k   15.1k decisions/s"
sed -n 's/^round \([0-9]*\)\/[0-9]* *postgresql\/\([a-z0-9]*\)\/t1\/\(u[0-9a-zA-Z]*\) *\([0-9.]*\)\([kM]*\) decisions\/s.*/\2 \3 \1 \4 \5/p' "$tmp/lib.err" |
  while read -r mode lab r v unit; do
    case $unit in k) v=$(awk -v v="$v" 'BEGIN { printf "%.0f", v * 1000 }') ;;
                  M) v=$(awk -v v="$v" 'BEGIN { printf "%.0f", v * 1000000 }') ;; esac
    echo "library $mode $lab $r $v" >>"$tmp/results"
  done

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
list() { tr '\n' ' ' | sed 's/ $//'; }
echo
echo "| users | mode | library (decisions/s), median (rounds) | pgbench ceiling | ceiling, median (rounds) | time ratio library / ceiling, of the medians | median of the per-round ratios |"
echo "| --- | --- | ---: | --- | ---: | ---: | ---: |"
for u in $(echo "$users" | tr ',' ' '); do
  lab=$(label "$u")
  for row in "single ceiling the same 2 calls" "batch100 ceiling 100 calls in a transaction" "batch100 apply one apply() of 100"; do
    set -- $row
    mode=$1 kind=$2
    shift 2
    what="$*"
    lv=$(awk -v m="$mode" -v l="$lab" '$1 == "library" && $2 == m && $3 == l { print $5 }' "$tmp/results")
    cv=$(awk -v k="$kind" -v m="$mode" -v l="$lab" '$1 == k && $2 == m && $3 == l { print $5 }' "$tmp/results")
    lm=$(echo "$lv" | median) cm=$(echo "$cv" | median)
    pr=$(awk -v k="$kind" -v m="$mode" -v l="$lab" '($1 == "library" || $1 == k) && $2 == m && $3 == l { v[$1, $4] = $5; n[$4] = 1 }
           END { for (r in n) if (v["library", r] > 0) printf "%.4f\n", v[k, r] / v["library", r] }' "$tmp/results" | median)
    echo "| $u | $mode | $lm ($(echo "$lv" | list)) | $what | $cm ($(echo "$cv" | list)) | $(awk -v a="$lm" -v b="$cm" 'BEGIN { printf "%.2f", b / a }')× | $(printf '%.2f' "$pr")× |"
  done
done
