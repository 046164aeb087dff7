# SPDX-License-Identifier: MIT
# redis_ctl.sh: shell functions that start and stop a throwaway redis-server for the tests;
# sourced by with_redis.sh and bench_redis.sh.
#
#   redis_start DIR [PORT]   start redis-server on 127.0.0.1 (on PORT, else on a free
#                            port found by trying random ones) and on DIR/redis.sock,
#                            nothing saved, files in DIR; sets REDIS_PID and REDIS_PORT.
#   redis_stop               stop it (SIGTERM, bounded wait), if it still runs.
#
# Bounds scale with STREAMY_TEST_TIMEOUT_MULTIPLIER.

redis_require() {
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "redis tests: redis-server is missing: install the Debian package redis-server" >&2
    exit 1
  fi
  if ! command -v redis-cli >/dev/null 2>&1; then
    echo "redis tests: redis-cli is missing: install the Debian package redis-tools" >&2
    exit 1
  fi
}

# A random port from 20000 to 59999.
redis_random_port() {
  echo $((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000))
}

redis_start() {
  _dir=$1 _want=${2:-} _attempt=0
  _mult=${STREAMY_TEST_TIMEOUT_MULTIPLIER:-1}
  redis_require
  while [ $_attempt -lt 20 ]; do
    _attempt=$((_attempt + 1))
    REDIS_PORT=${_want:-$(redis_random_port)}
    rm -f "$_dir/redis.sock"
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
      --dir "$_dir" --unixsocket "$_dir/redis.sock" --unixsocketperm 700 \
      --logfile "$_dir/redis.log" --daemonize no --enable-debug-command local \
      >/dev/null 2>&1 &
    REDIS_PID=$!
    # Up to 10 s (scaled): our process answers PING on the port, or it ended (the
    # port was taken) and another port is tried.
    _i=0
    while [ $_i -lt $((200 * _mult)) ]; do
      if ! kill -0 "$REDIS_PID" 2>/dev/null; then
        break
      fi
      if redis-cli -p "$REDIS_PORT" info server 2>/dev/null |
        grep -q "^process_id:$REDIS_PID"; then
        export REDIS_PORT REDIS_PID
        REDIS_DIR=$_dir
        export REDIS_DIR
        return 0
      fi
      sleep 0.05
      _i=$((_i + 1))
    done
    kill -TERM "$REDIS_PID" 2>/dev/null
    wait "$REDIS_PID" 2>/dev/null
    REDIS_PID=""
    if [ -n "$_want" ] && [ $_attempt -ge 5 ]; then
      break
    fi
  done
  echo "redis tests: redis-server did not start (see $_dir/redis.log):" >&2
  tail -n 5 "$_dir/redis.log" >&2 2>/dev/null
  return 1
}

redis_stop() {
  [ -n "${REDIS_PID:-}" ] || return 0
  kill -TERM "$REDIS_PID" 2>/dev/null
  wait "$REDIS_PID" 2>/dev/null
  REDIS_PID=""
}
