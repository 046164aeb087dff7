#!/bin/sh
# SPDX-License-Identifier: MIT
# pg_harness.sh: run one command against a throwaway PostgreSQL server of its own.
#
#   tests/pg/pg_harness.sh COMMAND [ARGS...]
#
# initdb a cluster in a new temporary directory, start it on a free loopback port
# (listen_addresses=127.0.0.1, its socket in the directory, fsync=off), wait until it
# answers, run COMMAND with every "@PGPORT@" in ARGS replaced by the port, and stop
# the server (pg_ctl stop -m immediate) and remove the directory however the command
# ended. Exit status: the command's; 1 if the server cannot be had.
#
# The command sees:
#   STREAMY_PG_URI    postgresql://streamy@127.0.0.1:PORT/postgres (trust auth)
#   STREAMY_PG_PORT   the port
#   STREAMY_PG_CTL    a script: "$STREAMY_PG_CTL stop" stops the server at once
#                     (-m immediate), "$STREAMY_PG_CTL start" starts it again
#   STREAMY_PG_BINDIR where initdb, pg_ctl, psql and pgbench are
#   PGHOST, PGPORT, PGUSER, PGDATABASE  for psql and pgbench
# Settings: STREAMY_PG_BINDIR (where the binaries are; default: the newest
# /usr/lib/postgresql/*/bin, else initdb on PATH) and STREAMY_PG_OPTIONS (more
# "-c name=value" server settings, e.g. "-c fsync=on" for benchmarks).
#
# initdb and postgres refuse to run as root: as root they run as the postgres system
# user (Debian's postgresql package creates it) in a directory it owns.
set -eu

fail() {
  echo "pg_harness: $*" >&2
  exit 1
}
[ $# -ge 1 ] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }

bindir=${STREAMY_PG_BINDIR:-}
if [ -z "$bindir" ]; then
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4,4 -n -r); do
    if [ -x "$d/initdb" ]; then bindir=$d; break; fi
  done
fi
if [ -z "$bindir" ] && command -v initdb >/dev/null 2>&1; then
  bindir=$(dirname "$(command -v initdb)")
fi
for b in initdb pg_ctl pg_isready postgres; do
  [ -n "$bindir" ] && [ -x "$bindir/$b" ] ||
    fail "the PostgreSQL server program $b is missing: install the Debian package postgresql (apt-get install postgresql), or set STREAMY_PG_BINDIR"
done

as_pg=""
base=${TMPDIR:-/tmp}
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 ||
    fail "running as root, and there is no postgres system user to run the server as (install the Debian package postgresql)"
  command -v runuser >/dev/null 2>&1 || fail "running as root without runuser (util-linux)"
  as_pg="runuser -u postgres --"
  base=/tmp # somewhere the postgres user can reach
fi
tmp=$(mktemp -d "$base/streamy-pg.XXXXXX")
chmod 700 "$tmp"
[ -z "$as_pg" ] || chown postgres "$tmp"
data=$tmp/data
log=$tmp/server.log
port=""

cleanup() {
  rc=$?
  if [ -f "$data/postmaster.pid" ]; then
    $as_pg "$bindir/pg_ctl" -D "$data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
  fi
  if [ $rc -ne 0 ] && [ -f "$log" ]; then
    echo "pg_harness: the command failed ($rc); the end of the server log:" >&2
    tail -n 20 "$log" >&2 || true
  fi
  rm -rf "$tmp"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! $as_pg "$bindir/initdb" -D "$data" -U streamy --auth=trust -E UTF8 --locale=C -N \
  >"$tmp/initdb.log" 2>&1; then
  cat "$tmp/initdb.log" >&2
  fail "initdb failed"
fi

# The server's options, written once so that the control script restarts it the same way.
start_server() {
  $as_pg "$bindir/pg_ctl" -D "$data" -l "$log" -w -t 60 \
    -o "-c port=$1 -c listen_addresses=127.0.0.1 -c unix_socket_directories=$tmp -c fsync=off ${STREAMY_PG_OPTIONS:-}" \
    start >/dev/null 2>&1
}

# A free port: try random ones until the server binds one.
tries=0
while :; do
  tries=$((tries + 1))
  candidate=$(( $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 30000 + 20000 ))
  rm -f "$log"
  if start_server "$candidate"; then
    port=$candidate
    break
  fi
  if [ $tries -ge 10 ] || ! grep -q -e "could not bind" -e "already in use" "$log" 2>/dev/null; then
    cat "$log" >&2 2>/dev/null || true
    fail "cannot start postgres (tried $tries ports)"
  fi
done

i=0
until "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" -U streamy -d postgres -t 1; do
  i=$((i + 1))
  [ $i -lt 60 ] || fail "the server on port $port does not answer"
  sleep 0.2
done

cat >"$tmp/pgctl" <<EOF
#!/bin/sh
# Stop (at once) or start the throwaway server of pg_harness.sh.
case "\$1" in
stop) exec $as_pg "$bindir/pg_ctl" -D "$data" -m immediate -w -t 30 stop >/dev/null ;;
start) exec $as_pg "$bindir/pg_ctl" -D "$data" -l "$log" -w -t 60 -o "-c port=$port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$tmp -c fsync=off ${STREAMY_PG_OPTIONS:-}" start >/dev/null ;;
*) echo "usage: \$0 stop|start" >&2; exit 2 ;;
esac
EOF
chmod 755 "$tmp/pgctl"
chmod 711 "$tmp" # the test may run as another user than the server

export STREAMY_PG_URI="postgresql://streamy@127.0.0.1:$port/postgres"
export STREAMY_PG_PORT=$port STREAMY_PG_CTL=$tmp/pgctl STREAMY_PG_BINDIR=$bindir
export PGHOST=127.0.0.1 PGPORT=$port PGUSER=streamy PGDATABASE=postgres

cmd=$1
shift
n=$#
while [ $n -gt 0 ]; do
  a=$1
  shift
  case $a in
  *@PGPORT@*) a=$(printf '%s' "$a" | sed "s/@PGPORT@/$port/g") ;;
  esac
  set -- "$@" "$a"
  n=$((n - 1))
done
set +e
"$cmd" "$@"
rc=$?
set -e
exit $rc
