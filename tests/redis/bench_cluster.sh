#!/bin/sh
# SPDX-License-Identifier: MIT
# bench_cluster.sh: the Redis store on a Redis Cluster (3 primaries, 3 replicas) beside a
# single redis-server, in one run, same load (streamy_bench: one thread, single calls and
# batches of 100), round by round; then the cost of wait=1 on the cluster; then, with
# --failovers N, N failover runs (cluster_nodes failover, each on a fresh cluster: one
# kill -9 of a primary with wait=0 and one with wait=1) for the median window and the
# acknowledged decisions lost.
#
#   tests/redis/bench_cluster.sh [--rounds N] [--seconds S] [--users U] [--failovers N] BUILD_DIR
#
# On 2 cores a cluster cannot add throughput: its 6 servers, the benchmark and the
# clients share the same cores. The figure that matters is the time per decision of
# one client: the routing's cost.
set -eu
rounds=5 seconds=1.5 users=1000 failovers=0
while [ $# -gt 1 ]; do
  case $1 in
  --rounds) rounds=$2; shift 2 ;;
  --seconds) seconds=$2; shift 2 ;;
  --users) users=$2; shift 2 ;;
  --failovers) failovers=$2; shift 2 ;;
  *) break ;;
  esac
done
[ $# -eq 1 ] || { echo "usage: $0 [--rounds N] [--seconds S] [--users U] [--failovers N] BUILD_DIR" >&2; exit 2; }
build=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/cluster_ctl.sh"
bench=$build/tests/bench/streamy_bench
[ -x "$bench" ] || { echo "bench_cluster: build $build first (streamy_bench)" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/streamy-clusterbench.XXXXXX")
trap 'redis_stop; cluster_stop; rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM HUP
mkdir -p "$tmp/single" "$tmp/cluster"
redis_start "$tmp/single" || { echo "bench_cluster: cannot start redis-server" >&2; exit 1; }
cluster_start "$tmp/cluster" || { echo "bench_cluster: cannot start the cluster" >&2; exit 1; }
first=${CLUSTER_PORTS# }
first=${first%% *}
# A cluster of one primary without a replica, all slots its own: the store's cluster
# routing against the same work in Redis as the single server, minus replication.
one_pids=$CLUSTER_PIDS one_ports=$CLUSTER_PORTS
CLUSTER_PIDS="" CLUSTER_PORTS=""
one=$((first + 7))
while ! cluster_node_start "$tmp/cluster" "$one"; do one=$((one + 1)); done
one_pid=$CLUSTER_PIDS
CLUSTER_PIDS="$one_pids $one_pid" CLUSTER_PORTS=$one_ports
redis-cli -p "$one" cluster addslotsrange 0 16383 >/dev/null
until redis-cli -p "$one" cluster info | grep -q '^cluster_state:ok'; do sleep 0.1; done

# run NAME URI: one streamy_bench round; lines "NAME MODE ROUND RATE" into results.
: >"$tmp/results"
run() {
  "$bench" --redis "$2" --filter 'redis/*/t1/*' --threads 1 --users "$users" --rounds 1 \
    --seconds "$seconds" --warmup 0.3 >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
  sed -n 's/^round [0-9]*\/[0-9]* *redis\/\([a-z0-9]*\)\/t1\/u[0-9a-zA-Z]* *\([0-9.]*\)\([kM]*\) decisions\/s.*/\1 \2 \3/p' "$tmp/err" |
    while read -r mode v unit; do
      case $unit in k) v=$(awk -v v="$v" 'BEGIN { printf "%.0f", v * 1000 }') ;;
                    M) v=$(awk -v v="$v" 'BEGIN { printf "%.0f", v * 1000000 }') ;; esac
      echo "$1 $mode $r $v" >>"$tmp/results"
      echo "round $r: $1 $mode $v decisions/s" >&2
    done
}
r=1
while [ "$r" -le "$rounds" ]; do
  run single "redis://127.0.0.1:$REDIS_PORT/0"
  run cluster "redis://127.0.0.1:$first/0"
  run cluster1 "redis://127.0.0.1:$one/0"
  run cluster-wait1 "redis://127.0.0.1:$first/0?wait=1"
  r=$((r + 1))
done

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
med() { awk -v n="$1" -v m="$2" '$1 == n && $2 == m { print $4 }' "$tmp/results" | median; }
echo
echo "redis-server $(redis-server --version | awk '{print $3}'), $users users, one thread, $rounds rounds of $seconds s; medians"
echo
echo "| mode | single Redis (decisions/s) | cluster of 1, no replica | time, cluster of 1 / single | cluster 3+3 | time, cluster 3+3 / single | cluster 3+3, wait=1 | time, wait=1 / wait=0 |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
for mode in single batch100; do
  s=$(med single $mode) o=$(med cluster1 $mode) c=$(med cluster $mode) w=$(med cluster-wait1 $mode)
  printf '| %s | %s | %s | %s× | %s | %s× | %s | %s× |\n' "$mode" "$s" "$o" "$(ratio "$s" "$o")" \
    "$c" "$(ratio "$s" "$c")" "$w" "$(ratio "$c" "$w")"
done
redis_stop
cluster_stop

[ "$failovers" -gt 0 ] || exit 0
i=1
while [ "$i" -le "$failovers" ]; do
  sh "$here/with_cluster.sh" "$build/tests/redis/cluster_nodes" failover "$build/cli/streamyctl" \
    >"$tmp/fo" 2>&1 || { cat "$tmp/fo" >&2; exit 1; }
  # "failover: window 2351 ms (wait=0), 3475 ms (wait=1); lost 0 (wait=0), 0 (wait=1)"
  sed -n 's/^failover: window \([0-9]*\) ms (wait=0), \([0-9]*\) ms (wait=1); lost \([0-9]*\) (wait=0), \([0-9]*\) (wait=1).*/\1 \2 \3 \4/p' "$tmp/fo" >>"$tmp/fos"
  echo "failover run $i: $(tail -n 1 "$tmp/fos")" >&2
  i=$((i + 1))
done
echo
echo "| failovers | window, median (ms), wait=0 | window, median (ms), wait=1 | acknowledged lost, wait=0 (sum) | acknowledged lost, wait=1 (sum) |"
echo "| ---: | ---: | ---: | ---: | ---: |"
printf '| %s | %s (%s) | %s (%s) | %s | %s |\n' "$failovers" \
  "$(awk '{print $1}' "$tmp/fos" | median)" "$(awk '{print $1}' "$tmp/fos" | tr '\n' ' ' | sed 's/ $//')" \
  "$(awk '{print $2}' "$tmp/fos" | median)" "$(awk '{print $2}' "$tmp/fos" | tr '\n' ' ' | sed 's/ $//')" \
  "$(awk '{s += $3} END {print s}' "$tmp/fos")" "$(awk '{s += $4} END {print s}' "$tmp/fos")"
