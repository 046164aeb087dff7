#!/bin/sh
# SPDX-License-Identifier: MIT
# scale_bytes.sh: what one lease costs in the shared stores, for docs/SCALE.md.
#
#   tests/bench/scale_bytes.sh BUILD_DIR [USERS [LEASES]]
#
# Loads USERS users (default 100000, UUID ids) with LEASES leases each (default 3) (stream ids of 12
# characters, a TTL of 90 s, as a player with heartbeats has) through `streamyctl batch`
# into a throwaway Redis and a throwaway PostgreSQL (the test harnesses start them), and
# prints, per lease: Redis used_memory before and after (INFO memory), MEMORY USAGE of
# sampled lease hashes, and PostgreSQL's table, index and TOAST bytes
# (pg_total_relation_size) after VACUUM; and the Redis server's own time per decision
# script (INFO commandstats), which bounds the decisions one primary's core can take.
set -eu
build=${1:?usage: scale_bytes.sh BUILD_DIR [USERS [LEASES]]}
users=${2:-100000}
per=${3:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
ctl=$(cd "$build" && pwd)/cli/streamyctl
tmp=$(mktemp -d "${TMPDIR:-/tmp}/streamy-scale.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# The batch: users x LEASES subscribes, UUID users, 12-character streams.
awk -v n="$users" -v per="$per" 'BEGIN {
  srand(42)
  for (i = 0; i < n; i++) {
    u = sprintf("%08x-%04x-4%03x-8%03x-%012x", i, int(rand() * 65536), int(rand() * 4096),
                int(rand() * 4096), int(rand() * 2^40))
    for (s = 1; s <= per; s++)
      printf "subscribe %s stream-%06d\n", u, (i * per + s) % 1000000
  }
}' >"$tmp/batch"
leases=$((users * per))

cat >"$tmp/redis.sh" <<SCRIPT
set -eu
before=\$(redis-cli -p "\$REDIS_PORT" info memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p')
"$ctl" --db "redis://127.0.0.1:\$REDIS_PORT/0" --ttl 90s --limit "$per" batch <"$tmp/batch" >/dev/null
after=\$(redis-cli -p "\$REDIS_PORT" info memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p')
keys=\$(redis-cli -p "\$REDIS_PORT" dbsize)
sample=0 n=0
for k in \$(redis-cli -p "\$REDIS_PORT" --scan --pattern 'streamy:*:leases' | head -n 200); do
  sample=\$((sample + \$(redis-cli -p "\$REDIS_PORT" memory usage "\$k" samples 0)))
  n=\$((n + 1))
done
echo "redis: $leases leases in \$keys keys; used_memory \$before -> \$after:" \
  "\$(( (after - before) / $leases )) bytes per lease;" \
  "MEMORY USAGE of \$n user hashes ($per leases each): \$((sample / n)) bytes per user," \
  "\$((sample / n / $per)) per lease"
# The server's own time per decision script, from its command statistics.
redis-cli -p "\$REDIS_PORT" info commandstats |
  sed -n 's/^cmdstat_\(evalsha\|eval\):calls=\([0-9]*\),usec=[0-9]*,usec_per_call=\([0-9.]*\).*/redis: \1: \2 calls, \3 us of server time per call/p'
SCRIPT
sh "$here/redis/with_redis.sh" sh "$tmp/redis.sh"

cat >"$tmp/pg.sh" <<SCRIPT
set -eu
"$ctl" --db "\$STREAMY_PG_URI" --ttl 90s --limit "$per" batch <"$tmp/batch" >/dev/null
psql -qAt -c "VACUUM ANALYZE" >/dev/null
psql -qAt -F ' ' -c "SELECT c.relname, pg_relation_size(c.oid), pg_indexes_size(c.oid),
  pg_total_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = 'streamy' AND c.relkind = 'r' ORDER BY 1" |
while read -r name heap idx total; do
  echo "postgresql: table streamy.\$name: heap \$heap, indexes \$idx, total \$total bytes;" \
    "\$((total / $leases)) bytes per lease"
done
SCRIPT
sh "$here/pg/pg_harness.sh" sh "$tmp/pg.sh"
