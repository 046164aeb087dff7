#!/bin/sh
# SPDX-License-Identifier: MIT
# pg_stall_load.sh: how long `streamyctl serve` on PostgreSQL takes to answer while the
# database is stopped (SIGSTOP of every server process) under load.
#
#   tests/bench/pg_stall_load.sh BUILD_DIR [STOP_SECONDS]
#
# On a throwaway server (tests/pg/pg_harness.sh): `streamyctl serve --busy-timeout 2s
# --threads 4`, 8 curl loops subscribing a new user each request and one asking
# /health every 0.2 s, for STOP_SECONDS + 8 s; after 4 s every server process is
# stopped for STOP_SECONDS (default 8) and continued. Prints, for the requests sent
# while it was stopped, the answers and the longest time to one, and the time from
# SIGCONT to the first 200.
set -eu
if [ "${1:-}" != "--inner" ]; then
  [ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR [STOP_SECONDS]" >&2; exit 2; }
  build=$(cd "$1" && pwd)
  exec sh "$(dirname "$0")/../pg/pg_harness.sh" sh "$0" --inner "$build/cli/streamyctl" "${2:-8}"
fi
ctl=$2 stop_s=$3
out=$(mktemp -d)
trap 'kill $spid 2>/dev/null; rm -rf "$out"' EXIT
"$ctl" --db "$STREAMY_PG_URI" --limit 3 --busy-timeout 2s serve --listen 127.0.0.1:0 \
  --access-log off --threads 4 >"$out/serve.out" 2>"$out/serve.err" &
spid=$!
i=0
until port=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' "$out/serve.out" | head -n 1) && [ -n "$port" ]; do
  i=$((i + 1)); [ $i -lt 100 ] || { echo "serve did not start" >&2; exit 1; }; sleep 0.1
done
now() { date +%s.%N; }
end=$(($(date +%s) + stop_s + 8))
for c in 1 2 3 4 5 6 7 8; do
  (n=0; while [ "$(date +%s)" -lt $end ]; do n=$((n + 1))
    echo "$(now) $(curl -s -o /dev/null -w '%{time_total} %{http_code}' -X POST \
      -H 'Content-Type: application/json' -d "{\"userId\":\"m$c-$n\",\"videoStreamId\":\"s\"}" \
      "http://127.0.0.1:$port/video-streams/subscription")"
  done >"$out/c$c") &
done
(while [ "$(date +%s)" -lt $end ]; do
  echo "$(now) $(curl -s -o /dev/null -w '%{time_total} %{http_code}' "http://127.0.0.1:$port/health")"
  sleep 0.2
done >"$out/health") &
sleep 4
pm=$(head -n 1 "$(dirname "$STREAMY_PG_CTL")/data/postmaster.pid")
pids="$pm $(ps -o pid= --ppid "$pm" | tr -d ' ' | tr '\n' ' ')"
stopped=$(now)
kill -STOP $pids
sleep "$stop_s"
kill -CONT $pids
cont=$(now)
wait_s=$((end - $(date +%s) + 1))
sleep $wait_s
cat "$out"/c* | awk -v s="$stopped" -v c="$cont" '
  $1 > s + 0.05 && $1 < c { n[$3]++; if ($2 > m) m = $2 }
  END { for (k in n) printf "decisions sent while stopped: %d answered %s\n", n[k], k;
        printf "decisions: the longest answer while stopped %.2f s\n", m }'
awk -v s="$stopped" -v c="$cont" '
  $1 > s && $1 < c { n[$3]++; if ($2 > m) m = $2 }
  END { for (k in n) printf "/health while stopped: %d answered %s\n", n[k], k;
        printf "/health: the longest answer while stopped %.2f s\n", m }' "$out/health"
cat "$out"/c* | sort -n | awk -v c="$cont" '$3 == 200 && $1 + $2 > c { printf "first 200 %.2f s after SIGCONT\n", $1 + $2 - c; exit }'
