#!/bin/sh
# SPDX-License-Identifier: MIT
# http_bench.sh: streamyctl serve under wrk, beside this machine's HTTP ceiling: nginx
# answering `return 200` to the very same wrk script and settings, measured in the
# same run, alternating A B A B. Then a soak run that samples the server's memory.
#
#   tests/bench/http_bench.sh [--rounds N] [--seconds S] [--soak S] [--threads N]
#                             [--connections N] [--db URI] [--serve-args "ARGS"] BUILD_DIR
#
# Needs wrk and nginx (Debian packages wrk, nginx-light or nginx).
set -eu

rounds=5 seconds=10 soak=60 threads=2 conns=64 db="" serve_args=""
while [ $# -gt 1 ]; do
  case $1 in
  --rounds) rounds=$2; shift 2 ;;
  --seconds) seconds=$2; shift 2 ;;
  --soak) soak=$2; shift 2 ;;
  --threads) threads=$2; shift 2 ;;
  --connections) conns=$2; shift 2 ;;
  --db) db=$2; shift 2 ;;
  --serve-args) serve_args=$2; shift 2 ;;
  *) break ;;
  esac
done
[ $# -eq 1 ] || { echo "usage: $0 [options] BUILD_DIR" >&2; exit 2; }
build=$1
here=$(cd "$(dirname "$0")" && pwd)
script=$here/http_mix.lua
ctl=$build/cli/streamyctl
command -v wrk >/dev/null || { echo "http_bench: wrk is missing (apt-get install wrk)" >&2; exit 2; }
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx_bin" ] || { echo "http_bench: nginx is missing (apt-get install nginx-light)" >&2; exit 2; }
[ -x "$ctl" ] || { echo "http_bench: no $ctl; build first" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/streamy-httpbench.XXXXXX")
spid="" npid=""
cleanup() {
  [ -n "$spid" ] && kill -TERM "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
  [ -n "$npid" ] && kill -QUIT "$npid" 2>/dev/null && wait "$npid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
[ -n "$db" ] || db="sqlite:$tmp/bench.db"

# A free port for nginx: ask the kernel through a throwaway streamyctl serve.
"$ctl" --db memory: serve --listen 127.0.0.1:0 --access-log off >"$tmp/probe" 2>/dev/null &
probe=$!
i=0; while [ ! -s "$tmp/probe" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
nport=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/probe")
kill -TERM $probe; wait $probe || true

cat >"$tmp/nginx.conf" <<EOF
worker_processes auto;
daemon off;
pid $tmp/nginx.pid;
error_log $tmp/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $tmp; proxy_temp_path $tmp; fastcgi_temp_path $tmp;
  uwsgi_temp_path $tmp; scgi_temp_path $tmp;
  keepalive_requests 10000000;
  server { listen 127.0.0.1:$nport; location / { return 200; } }
}
EOF
"$nginx_bin" -c "$tmp/nginx.conf" &
npid=$!

# shellcheck disable=SC2086
"$ctl" --db "$db" serve --listen 127.0.0.1:0 $serve_args >"$tmp/serve.out" 2>"$tmp/serve.log" &
spid=$!
i=0; while [ ! -s "$tmp/serve.out" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
sport=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/serve.out")
[ -n "$sport" ] || { echo "http_bench: streamyctl serve did not start" >&2; cat "$tmp/serve.log" >&2; exit 1; }

# run NAME PORT ROUND: one wrk run; appends "name round rps p99_ms non2xx errors" to results.
run() {
  out=$(wrk -t"$threads" -c"$conns" -d"${seconds}s" -s "$script" --latency \
        "http://127.0.0.1:$2" 2>&1)
  echo "$out" | awk -v name="$1" -v round="$3" '
    /Requests\/sec:/ { rps = $2 }
    /^ +99%/ { p = $2; if (p ~ /us$/) { sub(/us/, "", p); p /= 1000 }
               else if (p ~ /ms$/) { sub(/ms/, "", p) } else if (p ~ /s$/) { sub(/s/, "", p); p *= 1000 }
               p99 = p }
    /Non-2xx/ { non2xx = $NF }
    /Socket errors/ { errs = $0; gsub(/[^0-9 ]/, "", errs); split(errs, e, " "); err = e[1]+e[2]+e[3]+e[4] }
    END { printf "%s %d %.0f %.3f %d %d\n", name, round, rps, p99, non2xx, err }' >>"$tmp/results"
  tail -n 1 "$tmp/results" >&2
}

echo "http_bench: nginx on $nport, streamyctl serve on $sport, wrk -t$threads -c$conns -d${seconds}s, $rounds rounds" >&2
r=1
while [ "$r" -le "$rounds" ]; do
  run nginx "$nport" "$r"
  run streamy "$sport" "$r"
  r=$((r + 1))
done

metrics=$(curl -s "http://127.0.0.1:$sport/metrics" || true)
commits=$(echo "$metrics" | awk '/^streamy_commits_total/ {print $2}')
decided=$(echo "$metrics" | awk '/^streamy_committed_decisions_total/ {print $2}')

# The soak: one long run, the server's resident memory sampled every 5 s.
if [ "$soak" -gt 0 ]; then
  wrk -t"$threads" -c"$conns" -d"${soak}s" -s "$script" "http://127.0.0.1:$sport" \
    >"$tmp/soak.out" 2>&1 &
  wpid=$!
  t=0
  while kill -0 $wpid 2>/dev/null; do
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$spid/status")
    echo "$t $rss" >>"$tmp/rss"
    sleep 5
    t=$((t + 5))
  done
  wait $wpid || true
fi

median() { sort -n | awk '{v[NR] = $1} END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
col() { awk -v n="$1" -v c="$2" '$1 == n { print $c }' "$tmp/results"; }
n_rps=$(col nginx 3 | median); s_rps=$(col streamy 3 | median)
n_p99=$(col nginx 4 | median); s_p99=$(col streamy 4 | median)
s_non2xx=$(col streamy 5 | awk '{s += $1} END {print s + 0}')
s_err=$(col streamy 6 | awk '{s += $1} END {print s + 0}')

echo
echo "| run | nginx req/s | streamy req/s | ratio | nginx p99 ms | streamy p99 ms |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
r=1
while [ "$r" -le "$rounds" ]; do
  awk -v r="$r" '$2 == r && $1 == "nginx" { nr = $3; np = $4 } $2 == r && $1 == "streamy" { sr = $3; sp = $4 }
    END { printf "| %d | %d | %d | %.2f | %.2f | %.2f |\n", r, nr, sr, sr / nr, np, sp }' "$tmp/results"
  r=$((r + 1))
done
echo "| **median** | **$n_rps** | **$s_rps** | **$(awk -v a="$s_rps" -v b="$n_rps" 'BEGIN {printf "%.2f", a / b}')** | **$n_p99** | **$s_p99** |"
echo
echo "streamy: $s_non2xx non-2xx answers and $s_err socket errors over all rounds;" \
     "$decided decisions in $commits commits ($(awk -v a="${decided:-0}" -v b="${commits:-1}" 'BEGIN {printf "%.1f", a / (b ? b : 1)}') a commit)"
if [ -s "$tmp/rss" ]; then
  echo
  echo "soak: ${soak}s of the same load; resident memory of streamyctl serve (KiB) every 5 s:"
  awk '{printf "%s%s", (NR > 1 ? " " : ""), $2} END {print ""}' "$tmp/rss"
  grep Requests/sec "$tmp/soak.out" || true
fi
