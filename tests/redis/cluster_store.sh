#!/bin/sh
# SPDX-License-Identifier: MIT
# cluster_store.sh: the conformance suite (check_store) against the Redis Cluster of
# with_cluster.sh, then a check that its users' keys landed on each of the 3 primaries,
# so that every node took part, and that no node answered MOVED (every slot computed
# right).
#
#   sh tests/redis/with_cluster.sh sh tests/redis/cluster_store.sh CHECK_STORE
set -u
[ $# -eq 1 ] || { echo "usage: $0 CHECK_STORE" >&2; exit 2; }
: "${CLUSTER_PORTS:?run under tests/redis/with_cluster.sh}"
first=${CLUSTER_PORTS# }
first=${first%% *}
tag=cs$$
"$1" "redis://127.0.0.1:$first?prefix=$tag-@PID@:" || exit 1

primaries=0 holding=0
for p in $CLUSTER_PORTS; do
  redis-cli -p "$p" info replication 2>/dev/null | grep -q '^role:master' || continue
  primaries=$((primaries + 1))
  n=$(redis-cli -p "$p" --scan --pattern "$tag-*" 2>/dev/null | wc -l)
  echo "cluster_store: primary 127.0.0.1:$p holds $n keys of the suite"
  [ "$n" -gt 0 ] && holding=$((holding + 1))
done
if [ "$primaries" -ne 3 ] || [ "$holding" -ne 3 ]; then
  echo "cluster_store: the suite's keys are on $holding of $primaries primaries, not all 3" >&2
  exit 1
fi
# The store computes each key's slot itself: had it got one wrong, a node would have
# answered MOVED (Redis counts error replies by their first word).
moved=0
for p in $CLUSTER_PORTS; do
  n=$(redis-cli -p "$p" info errorstats 2>/dev/null | sed -n 's/^errorstat_MOVED:count=\([0-9]*\).*/\1/p')
  moved=$((moved + ${n:-0}))
done
echo "cluster_store: MOVED answers during the suite: $moved"
if [ "$moved" -ne 0 ]; then
  echo "cluster_store: the store sent $moved commands to the wrong node" >&2
  exit 1
fi
