#!/bin/sh
# SPDX-License-Identifier: MIT
# with_cluster.sh: run one command against a throwaway Redis Cluster of 3 primaries and
# 3 replicas (cluster_ctl.sh), stopped afterwards even on failure. In the arguments,
# @CLUSTER_PORT@ becomes the first node's port and @CLUSTER_PORTS@ the six ports joined
# with commas; the command also finds CLUSTER_PORTS (space-separated), CLUSTER_PIDS and
# CLUSTER_DIR in its environment.
#
#   sh tests/redis/with_cluster.sh COMMAND [ARGS...]
#
# Fails (never skips) when redis-server is missing: install the Debian package
# redis-server.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/cluster_ctl.sh"

[ $# -ge 1 ] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }
redis_require
tmp=$(mktemp -d "${TMPDIR:-/tmp}/streamy-cluster.XXXXXX") || exit 1
trap 'cluster_stop; rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM HUP
cluster_start "$tmp" || exit 1
CLUSTER_DIR=$tmp
export CLUSTER_DIR
first=${CLUSTER_PORTS# }
first=${first%% *}
joined=$(echo $CLUSTER_PORTS | tr ' ' ',')

count=$# i=0
while [ $i -lt "$count" ]; do
  a=$(printf '%s\n' "$1" | sed -e "s|@CLUSTER_PORTS@|$joined|g" -e "s|@CLUSTER_PORT@|$first|g")
  shift
  set -- "$@" "$a"
  i=$((i + 1))
done
"$@"
status=$?
if [ $status -ne 0 ]; then
  echo "with_cluster: the command exited $status; the ends of the nodes' logs:" >&2
  for f in "$tmp"/*/redis.log; do tail -n 3 "$f" >&2; done
fi
exit $status
