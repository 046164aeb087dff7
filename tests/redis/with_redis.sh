#!/bin/sh
# SPDX-License-Identifier: MIT
# with_redis.sh: run one command against a throwaway redis-server, stopped afterwards even
# on failure. In the arguments, @REDIS_PORT@ becomes its port and @REDIS_SOCK@ its Unix
# socket; the command also finds REDIS_PORT, REDIS_PID and REDIS_DIR in its environment.
#
#   sh tests/redis/with_redis.sh COMMAND [ARGS...]
#
# Fails (never skips) when redis-server is missing: install the Debian package
# redis-server.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/redis_ctl.sh"

[ $# -ge 1 ] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }
redis_require
tmp=$(mktemp -d "${TMPDIR:-/tmp}/streamy-redis.XXXXXX") || exit 1
trap 'redis_stop; rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM HUP
redis_start "$tmp" || exit 1

count=$# i=0
while [ $i -lt "$count" ]; do
  a=$(printf '%s\n' "$1" | sed -e "s|@REDIS_PORT@|$REDIS_PORT|g" -e "s|@REDIS_SOCK@|$tmp/redis.sock|g")
  shift
  set -- "$@" "$a"
  i=$((i + 1))
done
"$@"
status=$?
if [ $status -ne 0 ] && [ -s "$tmp/redis.log" ]; then
  echo "with_redis: the command exited $status; the end of redis-server's log:" >&2
  tail -n 5 "$tmp/redis.log" >&2
fi
exit $status
