#!/bin/sh
# SPDX-License-Identifier: MIT
# packages.sh: check the Debian packages that packaging/build-debs.sh wrote into DIST
# (contents, dependencies, shlibs and symbols, lintian, the systemd unit), then install
# them as an operator would: an older build first (VERSION~test1, built here), state
# and a changed /etc/default/streamy, the DIST packages over it, remove, purge.
# Usage: tests/packages.sh DIST
# It must run as root: it installs, upgrades and purges packages with apt-get and dpkg.
# It refuses to start when Streamy is already installed or /var/lib/streamy exists, and
# at the end, passed or failed, purges what it installed (and the packages apt-get
# installed as new for it), so the machine is left as it was found.
set -eu
dist=${1:?usage: packages.sh DIST}
dist=$(cd "$dist" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
fail() { echo "packages: $*" >&2; exit 1; }
say() { echo "packages: $*"; }

[ "$(id -u)" -eq 0 ] || fail "must run as root: it installs, upgrades and purges the" \
  "streamy packages with apt-get (run: sudo tests/packages.sh $1)"
for tool in dpkg-deb:dpkg lintian:lintian systemd-analyze:systemd apt-get:apt \
            dpkg-buildpackage:dpkg-dev dh:debhelper curl:curl cc:build-essential \
            pkg-config:pkg-config cmake:cmake setpriv:util-linux man:man-db; do
  command -v "${tool%%:*}" >/dev/null ||
    fail "${tool%%:*} is missing: apt-get install ${tool#*:}"
done

ver() { sed -n "s/^#define STREAMY_VERSION_$1 \([0-9]*\).*/\1/p" "$src/include/streamy.h"; }
major=$(ver MAJOR)
version=$major.$(ver MINOR).$(ver PATCH)
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
arch=$(dpkg --print-architecture)
lib=libstreamy$major
pkgs="streamyctl libstreamy-dev $lib"
deb() { echo "$dist/${1}_${version}_$arch.deb"; }
for p in $pkgs; do [ -f "$(deb "$p")" ] || fail "missing $(deb "$p") (./bootstrap.sh package)"; done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/streamy-debs.XXXXXX")
chmod 0755 "$tmp" # apt-get reads the .deb files as the user _apt
# apt-get installs copies: it reads them as _apt, which may not reach DIST (a clone under
# /root), and their paths must not hold spaces, which a list of words cannot carry.
mkdir "$tmp/new"
for p in $pkgs; do cp "$(deb "$p")" "$tmp/new/"; done
installed="" pulled=""
cleanup() {
  rc=$?
  if [ -n "$installed" ]; then
    left=$(for p in $pkgs; do dpkg-query -W "$p" >/dev/null 2>&1 && echo "$p"; done | tr '\n' ' ')
    if [ -n "$left" ]; then
      # shellcheck disable=SC2086
      apt-get purge -y -q -o DPkg::Lock::Timeout=300 $left >"$tmp/purge.log" 2>&1 ||
        { cat "$tmp/purge.log" >&2; rc=1; }
    fi
    if [ -n "$pulled" ]; then
      echo "packages: purging what apt-get installed for the packages:$pulled"
      # shellcheck disable=SC2086
      apt-get purge -y -q -o DPkg::Lock::Timeout=300 $pulled >/dev/null 2>&1 || rc=1
    fi
  fi
  rm -rf "$tmp"
  [ "$rc" -eq 0 ] || echo "packages: FAILED" >&2
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# --- The files -------------------------------------------------------------------------
# Exactly these files (directories aside) in each package.
expect_files() {
  p=$1; shift
  dpkg-deb -c "$(deb "$p")" | awk '$1 !~ /^d/ {print $6}' | sed 's|^\./||' | sort \
    >"$tmp/$p.files"
  printf '%s\n' "$@" | sort >"$tmp/$p.want"
  diff -u "$tmp/$p.want" "$tmp/$p.files" >&2 ||
    fail "$p: files differ from the expected (-want +got)"
}
doc() { echo "usr/share/doc/$1/changelog.gz usr/share/doc/$1/copyright"; }
# shellcheck disable=SC2046
expect_files "$lib" "usr/lib/$ma/libstreamy.so.$major" "usr/lib/$ma/libstreamy.so.$version" \
  $(doc "$lib")
# shellcheck disable=SC2046
expect_files libstreamy-dev usr/include/streamy.h usr/include/streamy/store.h \
  "usr/lib/$ma/libstreamy.a" "usr/lib/$ma/libstreamy.so" "usr/lib/$ma/pkgconfig/streamy.pc" \
  "usr/lib/$ma/cmake/streamy/streamyConfig.cmake" \
  "usr/lib/$ma/cmake/streamy/streamyConfigVersion.cmake" \
  "usr/lib/$ma/cmake/streamy/streamyTargets.cmake" \
  "usr/lib/$ma/cmake/streamy/streamyTargets-none.cmake" $(doc libstreamy-dev)
# shellcheck disable=SC2046
expect_files streamyctl usr/bin/streamyctl usr/share/man/man1/streamyctl.1.gz \
  lib/systemd/system/streamy.service etc/default/streamy $(doc streamyctl)
dpkg-deb -c "$(deb streamyctl)" >"$tmp/streamyctl.list"
grep -q '^-rwxr-xr-x root/root .* \./usr/bin/streamyctl$' "$tmp/streamyctl.list" ||
  fail "streamyctl: /usr/bin/streamyctl is not root-owned 0755"
ctl() { dpkg-deb --ctrl-tarfile "$(deb "$1")" | tar -xOf - "./$2" 2>/dev/null; }
[ "$(ctl streamyctl conffiles)" = /etc/default/streamy ] ||
  fail "streamyctl: /etc/default/streamy is not its one conffile"
say "files: ok"

# --- Dependencies, shlibs, symbols -----------------------------------------------------
# dpkg-shlibdeps computes them: every library the binaries are linked with, with a version.
depends() { dpkg-deb -f "$(deb "$1")" Depends; }
has_dep() {
  depends "$1" | tr ',' '\n' | sed 's/^ *//' | grep -qx "$2" ||
    fail "$1: Depends has no '$2': $(depends "$1")"
}
has_dep "$lib" 'libc6 (>= [0-9.~]*)'
has_dep "$lib" 'libsqlite3-0 (>= [0-9.~]*)'
has_dep "$lib" 'libhiredis[0-9.]* (>= [0-9.~]*)'
has_dep "$lib" 'libpq5 (>= [0-9.~]*)'
has_dep streamyctl "$lib (>= $version)"
has_dep streamyctl 'libmicrohttpd[0-9]* (>= [0-9.~]*)'
has_dep streamyctl 'libjansson[0-9]* (>= [0-9.~]*)'
has_dep streamyctl adduser
has_dep libstreamy-dev "$lib (= $version)"
for d in libsqlite3-dev libhiredis-dev libpq-dev; do has_dep libstreamy-dev "$d"; done
[ "$(ctl "$lib" shlibs)" = "libstreamy $major $lib (>= $version)" ] ||
  fail "$lib: shlibs is '$(ctl "$lib" shlibs)'"
ctl "$lib" symbols >"$tmp/symbols" || fail "$lib: no symbols file"
head -n 1 "$tmp/symbols" | grep -qx "libstreamy.so.$major $lib #MINVER#" ||
  fail "$lib: the symbols file is not for libstreamy.so.$major"
sed -n 's/^ \([^@]*\)@Base .*/\1/p' "$tmp/symbols" | sort >"$tmp/symbols.names"
diff -u "$src/tests/exports.txt" "$tmp/symbols.names" >&2 ||
  fail "$lib: the symbols file differs from tests/exports.txt"
dpkg-deb -x "$(deb "$lib")" "$tmp/root-lib"
soname=$(readelf -d "$tmp/root-lib/usr/lib/$ma/libstreamy.so.$version" |
  sed -n 's/.*SONAME.*\[\(.*\)\].*/\1/p')
[ "$soname" = "libstreamy.so.$major" ] || fail "$lib: SONAME is $soname"
say "dependencies: ok ($(depends "$lib"); streamyctl: $(depends streamyctl))"

# --- lintian -------------------------------------------------------------------------
lintian --display-info --fail-on error "$dist"/*.deb "$dist"/dbgsym/*.deb >"$tmp/lintian" 2>&1 || {
  cat "$tmp/lintian" >&2
  fail "lintian found errors"
}
grep -v 'running with root privileges' "$tmp/lintian" | sed 's/^/  lintian: /' || true
say "lintian: no errors"

# --- The unit, as shipped --------------------------------------------------------------
dpkg-deb -x "$(deb streamyctl)" "$tmp/root-ctl"
unit=$tmp/root-ctl/lib/systemd/system/streamy.service
systemd-analyze security --offline=true --threshold=20 "$unit" >"$tmp/security" 2>&1 || {
  cat "$tmp/security" >&2
  fail "streamy.service: exposure over 2.0 (systemd-analyze security)"
}
say "unit: $(grep -o 'Overall exposure level.*' "$tmp/security")"
# shellcheck disable=SC2016
for key in 'User=streamy' 'StateDirectory=streamy' 'EnvironmentFile=-/etc/default/streamy' \
           'Restart=on-failure' 'KillSignal=SIGTERM' 'ExecReload=/bin/kill -HUP $MAINPID' \
           'NoNewPrivileges=yes' 'ProtectSystem=strict' 'PrivateTmp=yes'; do
  grep -qxF "$key" "$unit" || fail "streamy.service: no '$key'"
done

# --- Install the older build, make state, change the settings -------------------------
# Nothing of an operator's may be touched: the purge below removes /var/lib/streamy.
# dpkg's status of a package, e.g. "ii" installed, "rc" configuration files left; the
# second letter "n" (or nothing) is not installed at all.
known() { dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null | cut -c2 | grep -qv n; }
for p in $pkgs; do
  ! known "$p" || fail "$p is installed here: this test installs and purges it, so it will not run"
done
[ ! -e /var/lib/streamy ] || fail "/var/lib/streamy exists: this test would purge it"
! getent passwd streamy >/dev/null || fail "a user streamy exists: this test would delete it"

old=$version~test1
say "building $old to upgrade from"
STREAMY_DEB_VERSION=$old "$src/packaging/build-debs.sh" "$tmp/old" >"$tmp/old.log" 2>&1 || {
  cat "$tmp/old.log" >&2
  fail "building the older packages failed"
}
# Installs, and remembers what apt-get installed as new beside the packages (as
# their dependencies), to purge it at the end. Unattended, as an operator's automated
# upgrade would: a changed conffile is kept even when the package's changed too.
apt_install() {
  installed=yes
  arc=0
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=300 \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" \
    >"$tmp/apt.log" 2>&1 || arc=$?
  # shellcheck disable=SC2013
  for n in $(awk '/^The following NEW packages will be installed:/ {f = 1; next}
                  f && /^  / {print; next} {f = 0}' "$tmp/apt.log"); do
    case " $pkgs $pulled " in *" $n "*) ;; *) pulled="$pulled $n" ;; esac
  done
  [ "$arc" -eq 0 ] || { cat "$tmp/apt.log" >&2; fail "apt-get install $* failed"; }
}
is_version() {
  got=$(dpkg-query -W -f='${Version}' "$1")
  [ "$got" = "$2" ] || fail "$1 is at $got, want $2"
}
# shellcheck disable=SC2046
apt_install $(for p in $pkgs; do echo "$tmp/old/${p}_${old}_$arch.deb"; done)
is_version streamyctl "$old"
uid=$(id -u streamy) || fail "installing made no user streamy"
[ "$uid" -lt 1000 ] || fail "streamy is not a system user (uid $uid)"
[ "$(stat -c '%U:%G %a' /var/lib/streamy)" = "streamy:streamy 750" ] ||
  fail "/var/lib/streamy is $(stat -c '%U:%G %a' /var/lib/streamy), want streamy:streamy 750"

# Installed, the unit passes systemd-analyze verify (its command and man page exist).
systemd-analyze verify /lib/systemd/system/streamy.service >"$tmp/verify" 2>&1 || {
  cat "$tmp/verify" >&2
  fail "systemd-analyze verify streamy.service failed"
}
say "unit: systemd-analyze verify: ok"

# Every variable streamyctl reads is documented, with its default, in /etc/default/streamy.
for v in $(streamyctl serve --help | grep -o 'STREAMY_[A-Z_]*' | sort -u); do
  grep -q "^#*$v=" /etc/default/streamy || fail "/etc/default/streamy does not document $v"
done

# As the service would: the user streamy, the unit's working directory and
# environment, /etc/default/streamy, systemd's clean environment.
unit_env=$(sed -n 's/^Environment=\(.*\)/export \1 \&\&/p' /lib/systemd/system/streamy.service |
  tr '\n' ' ')
as_service() {
  setpriv --reuid=streamy --regid=streamy --init-groups env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    sh -c "cd /var/lib/streamy && $unit_env set -a && . /etc/default/streamy && set +a && $1"
}
as_service 'exec streamyctl subscribe alice movie-1' >/dev/null ||
  fail "streamyctl subscribe as the user streamy failed"
[ "$(stat -c %U /var/lib/streamy/streamy.db)" = streamy ] ||
  fail "/var/lib/streamy/streamy.db was not made by the user streamy"
sed -i 's/^#STREAMY_MAX_STREAMS=3$/STREAMY_MAX_STREAMS=2/' /etc/default/streamy
grep -qx STREAMY_MAX_STREAMS=2 /etc/default/streamy || fail "could not edit /etc/default/streamy"

# --- Upgrade to the DIST packages: the state and the changed settings stay ------------
# shellcheck disable=SC2046
apt_install $(for p in $pkgs; do echo "$tmp/new/${p}_${version}_$arch.deb"; done)
is_version streamyctl "$version"
is_version "$lib" "$version"
[ "$(id -u streamy)" = "$uid" ] || fail "the upgrade changed the uid of streamy"
grep -qx STREAMY_MAX_STREAMS=2 /etc/default/streamy ||
  fail "the upgrade did not keep the change to /etc/default/streamy"
[ "$(as_service 'exec streamyctl --json count alice')" = '{"user":"alice","count":1,"limit":2}' ] ||
  fail "the upgrade lost the lease in /var/lib/streamy/streamy.db, or the settings"
say "upgrade $old -> $version: state and settings kept"

# The unit's ExecStart, by hand (no systemd runs here), on a free port rather than
# 3000, which may be taken on this machine (the last --listen wins), and with a log
# file to see ExecReload's SIGHUP reopen it.
exec_start=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/streamy.service)
# A simple command in the background: $! is setpriv, which becomes streamyctl.
setpriv --reuid=streamy --regid=streamy --init-groups env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  sh -c "cd /var/lib/streamy && $unit_env set -a && . /etc/default/streamy && set +a &&
    exec $exec_start --listen 127.0.0.1:0 --log-file serve.log" \
  >"$tmp/serve.out" 2>"$tmp/serve.err" &
spid=$!
url=""
for _ in $(seq 100); do
  url=$(sed -n 's|.*listening on \(http://[^ ]*\).*|\1|p' "$tmp/serve.out")
  [ -n "$url" ] && break
  kill -0 "$spid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$url" ]; then
  cat "$tmp/serve.err" >&2
  kill "$spid" 2>/dev/null
  fail "the unit's ExecStart did not start: $exec_start"
fi
post() {
  curl -s -o /dev/null -w '%{http_code}' --json "{\"userId\":\"alice\",\"videoStreamId\":\"$1\"}" \
    "$url/video-streams/subscription"
}
[ "$(post movie-2)" = 200 ] || fail "serve: the second stream of alice was refused"
[ "$(post movie-3)" = 429 ] || fail "serve: the limit 2 from /etc/default/streamy was not applied"
# ExecReload: as logrotate would, move the log away, then SIGHUP.
log=/var/lib/streamy/serve.log
mv "$log" "$log.1"
kill -HUP "$spid"
for _ in $(seq 50); do [ -f "$log" ] && break; sleep 0.1; done
[ "$(curl -s -o /dev/null -w '%{http_code}' "$url/health")" = 200 ] ||
  fail "serve: not healthy after SIGHUP (ExecReload)"
[ -f "$log" ] || fail "serve: SIGHUP (ExecReload) did not reopen --log-file"
kill -TERM "$spid"
serve_rc=0
wait "$spid" || serve_rc=$?
if [ "$serve_rc" -ne 0 ]; then
  cat "$tmp/serve.err" "$log" >&2
  fail "serve: SIGTERM ended it with $serve_rc, want 0"
fi
grep -q '"/health"' "$log" || fail "serve: the reopened log has no request line"
grep -q SIGTERM "$log" || fail "serve: no log line about stopping on SIGTERM"
say "unit: ExecStart as the user streamy served, reloaded on SIGHUP, drained on SIGTERM"

# --- The installed -dev package: shared, static and CMake consumers --------------------
run_embed() {
  out=$("$1" "sqlite:$tmp/embed-$2.db") || fail "$2 consumer failed: $out"
  echo "$out" | grep -q "movie-4: refused, limit reached (3 of 3 active)" ||
    fail "$2 consumer did not refuse the fourth stream: $out"
}
# shellcheck disable=SC2046
cc "$src/examples/embed.c" $(pkg-config --cflags --libs streamy) -o "$tmp/embed-shared"
run_embed "$tmp/embed-shared" shared
# libstreamy.a through the exact static line; the directory given first holds only the
# archive, so that -lstreamy cannot be the shared library.
mkdir "$tmp/static-only"
ln -s "/usr/lib/$ma/libstreamy.a" "$tmp/static-only/"
static_libs=$(pkg-config --static --libs streamy)
# shellcheck disable=SC2046,SC2086
cc "$src/examples/embed.c" $(pkg-config --cflags streamy) -L"$tmp/static-only" $static_libs \
  -o "$tmp/embed-static" ||
  fail "static consumer: pkg-config --static --libs streamy = $static_libs"
run_embed "$tmp/embed-static" static
! ldd "$tmp/embed-static" | grep -q libstreamy || fail "the static consumer links libstreamy.so"
if ! { cmake -S "$src/examples/consumer" -B "$tmp/consumer" &&
       cmake --build "$tmp/consumer"; } >"$tmp/cmake.log" 2>&1; then
  cat "$tmp/cmake.log" >&2
  fail "find_package(streamy) against the installed libstreamy-dev failed"
fi
run_embed "$tmp/consumer/consumer_embed" cmake-shared
run_embed "$tmp/consumer/consumer_embed_static" cmake-static
say "libstreamy-dev: pkg-config (shared, static: $static_libs) and find_package: ok"

# --- Remove keeps the state and the settings; purge removes them and the user ---------
DEBIAN_FRONTEND=noninteractive apt-get remove -y -q -o DPkg::Lock::Timeout=300 streamyctl \
  >"$tmp/apt.log" 2>&1 || { cat "$tmp/apt.log" >&2; fail "apt-get remove streamyctl failed"; }
[ -f /var/lib/streamy/streamy.db ] || fail "remove (not purge) deleted /var/lib/streamy/streamy.db"
[ -f /etc/default/streamy ] || fail "remove (not purge) deleted /etc/default/streamy"
getent passwd streamy >/dev/null || fail "remove (not purge) deleted the user streamy"
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive apt-get purge -y -q -o DPkg::Lock::Timeout=300 $pkgs \
  >"$tmp/apt.log" 2>&1 || { cat "$tmp/apt.log" >&2; fail "apt-get purge failed"; }
for p in $pkgs; do
  ! known "$p" || fail "$p is still known to dpkg after purge"
done
! getent passwd streamy >/dev/null || fail "purge left the user streamy"
! getent group streamy >/dev/null || fail "purge left the group streamy"
[ ! -e /var/lib/streamy ] || fail "purge left /var/lib/streamy"
[ ! -e /etc/default/streamy ] || fail "purge left /etc/default/streamy"
[ ! -e /etc/systemd/system/multi-user.target.wants/streamy.service ] ||
  fail "purge left the unit enabled"
say "remove keeps the state, the settings and the user; purge removes them"
say "ok"
