# SPDX-License-Identifier: MIT
# cluster_ctl.sh: shell functions that start and stop a throwaway Redis Cluster for the
# tests: 3 primaries and 3 replicas on loopback, a short cluster-node-timeout; sourced by
# with_cluster.sh.
#
#   cluster_start DIR       start the 6 nodes (files in DIR/NODE), make them one cluster
#                           (redis-cli --cluster create --cluster-replicas 1) and wait
#                           until every node says cluster_state:ok; sets CLUSTER_PORTS
#                           (the 6 ports, primaries first) and CLUSTER_PIDS.
#   cluster_stop            stop every node that still runs (SIGTERM, bounded wait).
#
# Bounds scale with STREAMY_TEST_TIMEOUT_MULTIPLIER.
# The sourcing script sets `here` to this directory.
. "$here/redis_ctl.sh"

CLUSTER_PORTS="" CLUSTER_PIDS=""

# One node on PORT (its cluster bus on PORT + 10000); returns once it answers PING or
# fails when it ended (the port was taken).
cluster_node_start() {
  _d=$1/$2
  mkdir -p "$_d"
  redis-server --port "$2" --bind 127.0.0.1 --save "" --appendonly no --dir "$_d" \
    --cluster-enabled yes --cluster-config-file "$_d/nodes.conf" \
    --cluster-node-timeout "${STREAMY_CLUSTER_NODE_TIMEOUT:-1000}" \
    --logfile "$_d/redis.log" --daemonize no --enable-debug-command local \
    --repl-diskless-sync-delay 0 \
    >/dev/null 2>&1 &
  _pid=$!
  _i=0
  while [ $_i -lt $((200 * ${STREAMY_TEST_TIMEOUT_MULTIPLIER:-1})) ]; do
    kill -0 "$_pid" 2>/dev/null || return 1
    if redis-cli -p "$2" info server 2>/dev/null | grep -q "^process_id:$_pid"; then
      CLUSTER_PIDS="$CLUSTER_PIDS $_pid"
      return 0
    fi
    sleep 0.05
    _i=$((_i + 1))
  done
  kill -TERM "$_pid" 2>/dev/null
  return 1
}

cluster_start() {
  _dir=$1 _attempt=0
  redis_require
  while [ $_attempt -lt 10 ]; do
    _attempt=$((_attempt + 1))
    # Six consecutive ports from 20000 to 22705, the buses 10000 higher: all below
    # Linux's ephemeral ports (32768 and up), which the nodes' own connections to each
    # other take, so that a node seldom finds its port in use.
    _base=$((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 2700))
    CLUSTER_PORTS="" CLUSTER_PIDS=""
    _ok=1
    for _n in 0 1 2 3 4 5; do
      if ! cluster_node_start "$_dir" $((_base + _n)); then
        _ok=0
        break
      fi
      CLUSTER_PORTS="$CLUSTER_PORTS $((_base + _n))"
    done
    if [ $_ok -eq 1 ]; then
      _addrs=""
      for _p in $CLUSTER_PORTS; do _addrs="$_addrs 127.0.0.1:$_p"; done
      # shellcheck disable=SC2086
      if redis-cli --cluster create $_addrs --cluster-replicas 1 --cluster-yes \
        >"$_dir/create.log" 2>&1 && cluster_wait_ok; then
        export CLUSTER_PORTS CLUSTER_PIDS
        return 0
      fi
      echo "redis cluster tests: the cluster did not form:" >&2
      tail -n 5 "$_dir/create.log" >&2
    fi
    cluster_stop
  done
  echo "redis cluster tests: could not start the 6 nodes; the ends of their logs:" >&2
  tail -n 3 "$_dir"/*/redis.log >&2 2>/dev/null
  return 1
}

# Every node says cluster_state:ok and knows 3 primaries with slots, and every primary's
# replica is online (up to 30 s, scaled).
cluster_wait_ok() {
  _i=0
  while [ $_i -lt $((300 * ${STREAMY_TEST_TIMEOUT_MULTIPLIER:-1})) ]; do
    _all=1
    for _p in $CLUSTER_PORTS; do
      if ! redis-cli -p "$_p" cluster info 2>/dev/null | grep -q "^cluster_state:ok" ||
        [ "$(redis-cli -p "$_p" cluster info 2>/dev/null |
          sed -n 's/^cluster_size:\([0-9]*\).*/\1/p')" != 3 ]; then
        _all=0
        break
      fi
    done
    # ... and every primary has its replica online (a write can then WAIT for it).
    if [ $_all -eq 1 ]; then
      for _p in $CLUSTER_PORTS; do
        _r=$(redis-cli -p "$_p" info replication 2>/dev/null)
        if echo "$_r" | grep -q '^role:master' &&
          ! echo "$_r" | grep -q '^slave0:.*state=online'; then
          _all=0
          break
        fi
      done
    fi
    [ $_all -eq 1 ] && return 0
    sleep 0.1
    _i=$((_i + 1))
  done
  return 1
}

cluster_stop() {
  for _pid in $CLUSTER_PIDS; do
    kill -TERM "$_pid" 2>/dev/null
  done
  for _pid in $CLUSTER_PIDS; do
    wait "$_pid" 2>/dev/null
  done
  CLUSTER_PIDS=""
}
