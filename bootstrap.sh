#!/bin/sh
# SPDX-License-Identifier: MIT
# bootstrap.sh: on a fresh Debian or Ubuntu machine, install what is missing, build
# Streamy, then run it (run) or its whole test suite (test).
#   ./bootstrap.sh run    build, then serve the HTTP API on http://localhost:3000
#                         with the embedded default store (SQLite, streamy.db)
#   ./bootstrap.sh package  build the Debian packages (libstreamy<SOVERSION>,
#                         libstreamy-dev, streamyctl) into dist/, debug symbols in
#                         dist/dbgsym/; install them with: apt-get install ./dist/*.deb
#   ./bootstrap.sh test   check the formatting, build, then run every test, plainly, under
#                         ASan+UBSan and under valgrind, build and check the Debian
#                         packages and install, upgrade and purge them (as root), then
#                         each libFuzzer target for STREAMY_FUZZ_SECONDS (default 60);
#                         every stage runs, and the end names those that failed
set -eu
cd "$(dirname "$0")"
mode=${1:-run}
jobs=$(nproc 2>/dev/null || echo 2)

build_pkgs="build-essential cmake pkg-config libsqlite3-dev uuid-dev libjansson-dev libmicrohttpd-dev
  libhiredis-dev libpq-dev"
test_pkgs="check sqlite3 binutils curl libcurl4-openssl-dev valgrind redis-server
  redis-tools postgresql postgresql-contrib clang libclang-rt-14-dev clang-format
  lintian systemd man-db"
# The Debian packages (./bootstrap.sh package, and the packages stage of the tests).
deb_pkgs="debhelper dpkg-dev"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo

install_missing() {
  missing=""
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
      || missing="$missing $p"
  done
  [ -z "$missing" ] && return 0
  echo "bootstrap: installing$missing"
  $sudo apt-get update
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends $missing
}

build() {
  dir=$1; shift
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTREAMY_WITH_HTTP=ON \
    -DSTREAMY_WITH_REDIS=ON -DSTREAMY_WITH_POSTGRES=ON "$@" &&
    cmake --build "$dir" -j "$jobs"
}

# The C sources as the committed .clang-format lays them out; names the files that differ.
check_format() {
  command -v clang-format >/dev/null || { echo "bootstrap: clang-format is missing" >&2; return 1; }
  bad=$(find include lib cli tests examples -name '*.[ch]' -not -path 'tests/fuzz/corpus/*' |
    sort | while IFS= read -r f; do
      clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || echo "$f"
    done)
  [ -z "$bad" ] && return 0
  echo "bootstrap: not formatted with .clang-format (run clang-format -i on them):" >&2
  echo "$bad" | sed 's/^/  /' >&2
  return 1
}

passed="" failed="" npassed=0 nfailed=0
# stage NAME COMMAND...: run one stage of the test command and remember how it ended.
stage() {
  name=$1; shift
  echo "bootstrap: === $name ==="
  if "$@"; then
    passed="$passed $name"; npassed=$((npassed + 1))
  else
    failed="$failed $name"; nfailed=$((nfailed + 1))
    echo "bootstrap: stage $name FAILED" >&2
  fi
}

case $mode in
run)
  # shellcheck disable=SC2086
  install_missing $build_pkgs
  build build -DSTREAMY_BUILD_TESTS=OFF
  exec ./build/cli/streamyctl serve --listen 127.0.0.1:3000
  ;;
package)
  # shellcheck disable=SC2086
  install_missing $build_pkgs $deb_pkgs
  exec packaging/build-debs.sh dist
  ;;
test)
  # shellcheck disable=SC2086
  install_missing $build_pkgs $test_pkgs $deb_pkgs
  # Every stage runs, whatever the one before it did, and the end says which failed; a
  # stage whose build failed fails too.
  set +e
  stage format check_format
  stage tests eval 'build build && ctest --test-dir build --output-on-failure -j "$jobs"'
  stage sanitizers eval 'build build-sanitize -DSTREAMY_SANITIZE=address,undefined \
    -DSTREAMY_TEST_TIMEOUT_MULTIPLIER=5 -DSTREAMY_BUILD_BENCH=OFF &&
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    STREAMY_TEST_TIMEOUT_MULTIPLIER=5 \
    ctest --test-dir build-sanitize --output-on-failure -j "$jobs"'
  # Every test under valgrind memcheck, with the programs it starts (4 to 9 minutes).
  stage valgrind tests/valgrind.sh build-valgrind -j "$jobs"
  # The Debian packages: built into dist/, checked (files, dependencies, lintian, the
  # unit), then installed, upgraded from an older build and purged, as root (1 minute).
  stage packages eval 'packaging/build-debs.sh dist && $sudo sh tests/packages.sh dist'
  # The libFuzzer targets (tests/fuzz), STREAMY_FUZZ_SECONDS each on their seeds.
  stage fuzz eval 'cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTREAMY_WITH_HTTP=ON -DSTREAMY_BUILD_FUZZ=ON \
    -DSTREAMY_BUILD_TESTS=OFF -DSTREAMY_BUILD_EXAMPLES=OFF -DSTREAMY_BUILD_BENCH=OFF &&
    cmake --build build-fuzz --target fuzz -j "$jobs" &&
    tests/fuzz/run.sh build-fuzz "${STREAMY_FUZZ_SECONDS:-60}"'
  echo "bootstrap: stages passed:${passed:- none}; failed:${failed:- none}"
  echo "bootstrap: $npassed passed, $nfailed failed"
  [ "$nfailed" -eq 0 ]
  exit
  ;;
*)
  echo "usage: $0 run|package|test" >&2
  exit 2
  ;;
esac
