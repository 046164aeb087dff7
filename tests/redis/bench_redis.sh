#!/bin/sh
# SPDX-License-Identifier: MIT
# bench_redis.sh: the Redis store's decisions per second (streamy_bench --redis) beside
# its ceiling, redis-benchmark running the store's own script with EVALSHA, on one
# throwaway redis-server, alternating library and ceiling round by round.
#
#   tests/redis/bench_redis.sh [--rounds N] [--seconds S] [--users LIST] BUILD_DIR
#
# BUILD_DIR holds a build with the Redis store (tests/bench/streamy_bench and
# tests/redis/redis_script). Per round: the library (one connection: single calls and
# batches of 100, one thread) for every user count, then for each user count the
# ceiling on the same server: redis-benchmark -c 1 (one connection) and -c 1 -P 100
# (pipelines of 100), running the subscribe script and then the unsubscribe script on
# users pre-populated the same way. A ceiling figure is decisions per second over both
# runs: 2 / (1/subscribe rate + 1/unsubscribe rate), as the library alternates them.
# The last column is the median of the per-round ratios: library and ceiling of one
# round ran within seconds of each other, which cancels much of a shared machine's drift.
set -eu
rounds=5 seconds=1.5 users=1000,1000000
while [ $# -gt 1 ]; do
  case $1 in
  --rounds) rounds=$2; shift 2 ;;
  --seconds) seconds=$2; shift 2 ;;
  --users) users=$2; shift 2 ;;
  *) break ;;
  esac
done
[ $# -eq 1 ] || { echo "usage: $0 [--rounds N] [--seconds S] [--users LIST] BUILD_DIR" >&2; exit 2; }
build=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/redis_ctl.sh"
bench=$build/tests/bench/streamy_bench
[ -x "$bench" ] && [ -x "$build/tests/redis/redis_script" ] ||
  { echo "bench_redis: build $build first (streamy_bench, redis_script)" >&2; exit 2; }
command -v redis-benchmark >/dev/null || { echo "bench_redis: install redis-tools" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/streamy-redisbench.XXXXXX")
trap 'redis_stop; rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM HUP
redis_start "$tmp"
cli() { redis-cli -p "$REDIS_PORT" "$@"; }
sha=$(cli script load "$("$build/tests/redis/redis_script")")
# 36-byte ids, as the library's UUIDs: users {<24 zeros><12 random digits>}.
first=firststream0000000000000000000000000
second=secondstream000000000000000000000000
user='{000000000000000000000000__rand_int__}'
# The script's arguments as the library sends them (redis.lua's order): a fresh lease id
# for a subscribe, as the store sends and keeps it (22 base64url characters); no fence,
# no device (left out). Values as the store writes them: times in hex.
id=Dw_pYOeISN2LZv2DMWvihQ

# ceil USERS MODE -> decisions/s of the script run as redis-benchmark runs it
rps() { tr '\r' '\n' | awk '/requests per second/ { for (i = 1; i <= NF; i++) if ($(i+1) == "requests") v = $i } END { print v }'; }
ceil() {
  u=$1 p=$2 n=$3
  a=$(redis-benchmark -p "$REDIS_PORT" -c 1 -P "$p" -n "$n" -r "$u" -q evalsha "$sha" 2 \
      "c$u:streamy:$user:leases" "c$u:streamy:$user:limit" a -1 0 3 0 0 "$second" "$id" | rps)
  r=$(redis-benchmark -p "$REDIS_PORT" -c 1 -P "$p" -n "$n" -r "$u" -q evalsha "$sha" 2 \
      "c$u:streamy:$user:leases" "c$u:streamy:$user:limit" u -1 "$second" | rps)
  awk -v a="$a" -v r="$r" 'BEGIN { printf "%.0f\n", 2 / (1 / a + 1 / r) }'
}
populate() {
  cli eval "for i = 0, tonumber(ARGV[1]) - 1 do
      redis.call('HSET', ARGV[2] .. 'streamy:{' .. string.format('%036d', i) .. '}:leases',
                 ARGV[3], ARGV[4]) end return 1" 0 "$1" "c$1:" "$first" "18bcfe56800:18bcfe56800:0:$id:" >/dev/null
}

: >"$tmp/results"
echo "bench_redis: redis-server $(redis-server --version | awk '{print $3}') on port $REDIS_PORT, $rounds rounds" >&2
r=1
while [ "$r" -le "$rounds" ]; do
  cli flushall >/dev/null
  "$bench" --redis "redis://127.0.0.1:$REDIS_PORT/0" --filter 'redis/*/t1/*' --threads 1 \
    --users "$users" --rounds 1 --seconds "$seconds" --warmup 0.3 >"$tmp/lib.out" 2>"$tmp/lib.err" ||
    { cat "$tmp/lib.err" "$tmp/lib.out" >&2; exit 1; }
  grep -h "pre-populated" "$tmp/lib.err" >&2 || true
  cli flushall >/dev/null
  for u in $(echo "$users" | tr ',' ' '); do
    populate "$u"
    label=$(awk -v u="$u" 'BEGIN { if (u % 1000000 == 0) print "u" u / 1000000 "M"; else if (u % 1000 == 0) print "u" u / 1000 "k"; else print "u" u }')
    s=$(ceil "$u" 1 "$(awk -v s="$seconds" 'BEGIN { printf "%d", s * 15000 }')")
    b=$(ceil "$u" 100 "$(awk -v s="$seconds" 'BEGIN { printf "%d", s * 100000 }')")
    echo "ceiling single $label $r $s" >>"$tmp/results"
    echo "ceiling batch100 $label $r $b" >>"$tmp/results"
    echo "round $r: ceiling $label single $s/s, pipelined by 100 $b/s" >&2
  done
  # streamy_bench's own lines: "round 1/1  redis/single/t1/u1k   15.1k decisions/s"
  sed -n 's/^round [0-9]*\/[0-9]* *redis\/\([a-z0-9]*\)\/t1\/\(u[0-9a-zA-Z]*\) *\([0-9.]*\)\([kM]*\) decisions\/s.*/\1 \2 \3 \4/p' "$tmp/lib.err" |
    while read -r mode label v unit; do
      case $unit in k) v=$(awk -v v="$v" 'BEGIN { printf "%.0f", v * 1000 }') ;;
                    M) v=$(awk -v v="$v" 'BEGIN { printf "%.0f", v * 1000000 }') ;; esac
      echo "library $mode $label $r $v" >>"$tmp/results"
      echo "round $r: library $label $mode $v/s" >&2
    done
  r=$((r + 1))
done

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo
echo "| users | mode | library (decisions/s), median (rounds) | redis-benchmark ceiling, median (rounds) | time ratio library / ceiling, of the medians | median of the per-round ratios |"
echo "| --- | --- | ---: | ---: | ---: | ---: |"
for u in $(echo "$users" | tr ',' ' '); do
  label=$(awk -v u="$u" 'BEGIN { if (u % 1000000 == 0) print "u" u / 1000000 "M"; else if (u % 1000 == 0) print "u" u / 1000 "k"; else print "u" u }')
  for mode in single batch100; do
    lv=$(awk -v m="$mode" -v l="$label" '$1 == "library" && $2 == m && $3 == l { print $5 }' "$tmp/results")
    cv=$(awk -v m="$mode" -v l="$label" '$1 == "ceiling" && $2 == m && $3 == l { print $5 }' "$tmp/results")
    lm=$(echo "$lv" | median) cm=$(echo "$cv" | median)
    pr=$(awk -v m="$mode" -v l="$label" '$2 == m && $3 == l { v[$1, $4] = $5; n[$4] = 1 }
           END { for (r in n) if (v["library", r] > 0) printf "%.4f\n", v["ceiling", r] / v["library", r] }' "$tmp/results" | median)
    echo "| $u | $mode | $lm ($(echo "$lv" | tr '\n' ' ' | sed 's/ $//')) | $cm ($(echo "$cv" | tr '\n' ' ' | sed 's/ $//')) | $(awk -v a="$lm" -v b="$cm" 'BEGIN { printf "%.2f", b / a }')× | $(printf '%.2f' "$pr")× |"
  done
done
