#!/bin/sh
# SPDX-License-Identifier: MIT
# cluster_input.sh: bad cluster URIs and wait= are refused with a message that names what
# was wrong; wait=1 holds on the cluster (a replica per primary) and is an error on a
# single Redis without a replica. Runs under with_cluster.sh and with_redis.sh nested:
#
#   sh tests/redis/with_cluster.sh sh tests/redis/with_redis.sh \
#     sh tests/redis/cluster_input.sh STREAMYCTL
set -u
[ $# -eq 1 ] || { echo "usage: $0 STREAMYCTL" >&2; exit 2; }
: "${CLUSTER_PORTS:?run under with_cluster.sh}" "${REDIS_PORT:?run under with_redis.sh}"
ctl=$1
set -- $CLUSTER_PORTS
c1=127.0.0.1:$1 c2=127.0.0.1:$2
failed=0

# expect URI EXIT WORDS: `streamyctl --db URI subscribe` exits EXIT saying WORDS.
expect() {
  out=$("$ctl" --db "$1" subscribe ci-user s1 2>&1)
  got=$?
  if [ "$got" -ne "$2" ] || ! printf '%s\n' "$out" | grep -qF -- "$3"; then
    echo "cluster_input: FAILED: $1: exit $got (want $2), said: $out (want: $3)" >&2
    failed=1
  else
    echo "cluster_input: $1: $out"
  fi
}

expect "redis://$c1,127.0.0.1:0?prefix=ci:" 2 'port "0" of host "127.0.0.1"'
expect "redis://$c1,127.0.0.1:x?prefix=ci:" 2 'port "x"'
expect "redis://$c1,,$c2?prefix=ci:" 2 'host 2 of the list is empty'
expect "redis://127.0.0.1:1,127.0.0.1:2?prefix=ci:" 1 \
  'cannot connect to any of the 2 hosts: 127.0.0.1:1, 127.0.0.1:2'
expect "redis://127.0.0.1:$REDIS_PORT,$c1?prefix=ci:" 2 \
  "127.0.0.1:$REDIS_PORT is not a Redis Cluster node"
expect "redis://$c1/3?prefix=ci:" 2 'a cluster has only database 0'
expect "redis://$c1?prefix=ci:&wait=-1" 2 'wait="-1"'
expect "redis://$c1?prefix=ci:&wait=x" 2 'wait="x"'
expect "redis://$c1?prefix=ci:&wait=17" 2 'from 0 to 16'
# A bad seed beside a good one: the good one serves.
expect "redis://127.0.0.1:1,$c2?prefix=ci:" 0 'allowed'
expect "redis://$c1?prefix=ci:&wait=1" 0 'allowed'
expect "redis://127.0.0.1:$REDIS_PORT?prefix=ci:&wait=1&timeout=300ms" 1 \
  'acknowledged by 0 of 1 replicas'
exit $failed
