#!/bin/sh
# SPDX-License-Identifier: MIT
# pg_pair.sh: run one command against a throwaway PostgreSQL primary and its streaming
# standby.
#
#   tests/pg/pg_pair.sh [--sync] COMMAND [ARGS...]
#
# initdb a primary in a new temporary directory and start it on a free loopback port;
# make a standby of it with pg_basebackup -R and start it on another free port; wait
# until the standby streams (and, with --sync, until it is the primary's synchronous
# standby: synchronous_standby_names='*' on the primary only); run COMMAND; then stop
# both (-m immediate) and remove the directory however the command ended. Exit status:
# the command's; 1 if the pair cannot be had.
#
# The command sees:
#   STREAMY_PG_URI   postgresql://streamy@127.0.0.1:P1,127.0.0.1:P2/postgres
#                    ?target_session_attrs=read-write  (trust auth)
#   STREAMY_PG_PRIMARY_PORT, STREAMY_PG_STANDBY_PORT
#   STREAMY_PG_SYNC  1 with --sync, else 0
#   STREAMY_PG_PAIR  a script: "$STREAMY_PG_PAIR kill-primary" kills the primary's
#                    postmaster and every process of it (SIGKILL: a machine that died),
#                    "$STREAMY_PG_PAIR promote" promotes the standby (pg_ctl promote -w)
#   STREAMY_PG_BINDIR, and PGHOST/PGPORT/PGUSER/PGDATABASE (the primary) for psql
# Settings: STREAMY_PG_BINDIR and STREAMY_PG_OPTIONS, as for pg_harness.sh.
# As root the servers run as the postgres system user, as in pg_harness.sh.
set -eu

fail() {
  echo "pg_pair: $*" >&2
  exit 1
}
sync=0
if [ "${1:-}" = "--sync" ]; then
  sync=1
  shift
fi
[ $# -ge 1 ] || { echo "usage: $0 [--sync] COMMAND [ARGS...]" >&2; exit 2; }

bindir=${STREAMY_PG_BINDIR:-}
if [ -z "$bindir" ]; then
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4,4 -n -r); do
    if [ -x "$d/initdb" ]; then bindir=$d; break; fi
  done
fi
if [ -z "$bindir" ] && command -v initdb >/dev/null 2>&1; then
  bindir=$(dirname "$(command -v initdb)")
fi
for b in initdb pg_ctl pg_isready postgres pg_basebackup psql; do
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
  base=/tmp
fi
tmp=$(mktemp -d "$base/streamy-pgpair.XXXXXX")
chmod 700 "$tmp"
[ -z "$as_pg" ] || chown postgres "$tmp"

cleanup() {
  rc=$?
  for n in primary standby; do
    if [ -f "$tmp/$n/postmaster.pid" ]; then
      $as_pg "$bindir/pg_ctl" -D "$tmp/$n" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
    fi
  done
  # A primary killed with SIGKILL may leave children for a moment.
  if [ -f "$tmp/primary.pids" ]; then
    for p in $(cat "$tmp/primary.pids"); do kill -9 "$p" 2>/dev/null || true; done
  fi
  if [ $rc -ne 0 ]; then
    for n in primary standby; do
      if [ -f "$tmp/$n.log" ]; then
        echo "pg_pair: the command failed ($rc); the end of the $n's log:" >&2
        tail -n 15 "$tmp/$n.log" >&2 || true
      fi
    done
  fi
  rm -rf "$tmp"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! $as_pg "$bindir/initdb" -D "$tmp/primary" -U streamy --auth=trust -E UTF8 --locale=C -N \
  >"$tmp/initdb.log" 2>&1; then
  cat "$tmp/initdb.log" >&2
  fail "initdb failed"
fi

# start NAME PORT [MORE OPTIONS]: start a server of the pair on PORT.
start() {
  n=$1 p=$2
  shift 2
  $as_pg "$bindir/pg_ctl" -D "$tmp/$n" -l "$tmp/$n.log" -w -t 60 \
    -o "-c port=$p -c listen_addresses=127.0.0.1 -c unix_socket_directories=$tmp -c fsync=off -c wal_level=replica -c max_wal_senders=5 -c hot_standby=on -c wal_sender_timeout=5s -c wal_receiver_status_interval=1s $* ${STREAMY_PG_OPTIONS:-}" \
    start >/dev/null 2>&1
}

# start_free NAME [MORE OPTIONS]: start on a free port, which it prints.
start_free() {
  n=$1
  shift
  tries=0
  while :; do
    tries=$((tries + 1))
    candidate=$(( $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 30000 + 20000 ))
    rm -f "$tmp/$n.log"
    if start "$n" "$candidate" "$@"; then
      echo "$candidate"
      return 0
    fi
    if [ $tries -ge 10 ] || ! grep -q -e "could not bind" -e "already in use" "$tmp/$n.log" 2>/dev/null; then
      cat "$tmp/$n.log" >&2 2>/dev/null || true
      fail "cannot start the $n (tried $tries ports)"
    fi
  done
}

sql() { # sql PORT TEXT: one value
  "$bindir/psql" -X -A -t -q -h 127.0.0.1 -p "$1" -U streamy -d postgres -c "$2"
}

if [ $sync = 1 ]; then
  p1=$(start_free primary "-c synchronous_standby_names=*")
else
  p1=$(start_free primary)
fi
if ! $as_pg "$bindir/pg_basebackup" -h 127.0.0.1 -p "$p1" -U streamy -D "$tmp/standby" -R \
  -X stream -c fast >"$tmp/basebackup.log" 2>&1; then
  cat "$tmp/basebackup.log" >&2
  fail "pg_basebackup failed"
fi
p2=$(start_free standby)

want="streaming"
[ $sync = 0 ] || want="streaming sync"
i=0
until [ "$(sql "$p1" "SELECT state || CASE WHEN sync_state = 'sync' THEN ' sync' ELSE '' END FROM pg_stat_replication" 2>/dev/null)" = "$want" ]; do
  i=$((i + 1))
  [ $i -lt 150 ] || fail "the standby on port $p2 does not stream from the primary on $p1"
  sleep 0.2
done

cat >"$tmp/pair" <<EOF2
#!/bin/sh
# Kill the primary of pg_pair.sh, or promote its standby.
case "\$1" in
kill-primary)
  pm=\$(head -n 1 "$tmp/primary/postmaster.pid")
  kids=\$(ps -o pid= --ppid "\$pm" | tr -d ' ')
  echo "\$pm \$kids" >"$tmp/primary.pids"
  kill -STOP \$pm 2>/dev/null
  kill -9 \$kids \$pm 2>/dev/null
  rm -f "$tmp/primary/postmaster.pid"
  ;;
promote) exec $as_pg "$bindir/pg_ctl" -D "$tmp/standby" -w -t 60 promote >/dev/null ;;
*) echo "usage: \$0 kill-primary|promote" >&2; exit 2 ;;
esac
EOF2
chmod 755 "$tmp/pair"
chmod 711 "$tmp"

export STREAMY_PG_URI="postgresql://streamy@127.0.0.1:$p1,127.0.0.1:$p2/postgres?target_session_attrs=read-write"
export STREAMY_PG_PRIMARY_PORT=$p1 STREAMY_PG_STANDBY_PORT=$p2 STREAMY_PG_SYNC=$sync
export STREAMY_PG_PAIR=$tmp/pair STREAMY_PG_BINDIR=$bindir
export PGHOST=127.0.0.1 PGPORT=$p1 PGUSER=streamy PGDATABASE=postgres

set +e
"$@"
rc=$?
set -e
exit $rc
