#!/bin/sh
# SPDX-License-Identifier: MIT
# bootstrap.sh: on a fresh Debian or Ubuntu machine, install what is missing, build
# Streamy, then run it (run) or its whole test suite (test).
#   ./bootstrap.sh run    build, then serve the HTTP API on http://localhost:3000
#                         with the embedded default store (SQLite, streamy.db)
#   ./bootstrap.sh test   build, then run every test, plainly, under ASan+UBSan and under
#                         valgrind, then each libFuzzer target for STREAMY_FUZZ_SECONDS
#                         (default 60)
set -eu
cd "$(dirname "$0")"
mode=${1:-run}
jobs=$(nproc 2>/dev/null || echo 2)

build_pkgs="build-essential cmake pkg-config libsqlite3-dev libjansson-dev libmicrohttpd-dev
  libhiredis-dev libpq-dev"
test_pkgs="check uuid-dev sqlite3 binutils curl libcurl4-openssl-dev valgrind redis-server
  redis-tools postgresql postgresql-contrib clang libclang-rt-14-dev"

install_missing() {
  missing=""
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
      || missing="$missing $p"
  done
  [ -z "$missing" ] && return 0
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "bootstrap: installing$missing"
  $sudo apt-get update
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends $missing
}

build() {
  dir=$1; shift
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTREAMY_WITH_HTTP=ON \
    -DSTREAMY_WITH_REDIS=ON -DSTREAMY_WITH_POSTGRES=ON "$@"
  cmake --build "$dir" -j "$jobs"
}

case $mode in
run)
  # shellcheck disable=SC2086
  install_missing $build_pkgs
  build build -DSTREAMY_BUILD_TESTS=OFF
  exec ./build/cli/streamyctl serve --listen 127.0.0.1:3000
  ;;
test)
  # shellcheck disable=SC2086
  install_missing $build_pkgs $test_pkgs
  build build
  ctest --test-dir build --output-on-failure -j "$jobs"
  build build-sanitize -DSTREAMY_SANITIZE=address,undefined \
    -DSTREAMY_TEST_TIMEOUT_MULTIPLIER=5 -DSTREAMY_BUILD_BENCH=OFF
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    STREAMY_TEST_TIMEOUT_MULTIPLIER=5 \
    ctest --test-dir build-sanitize --output-on-failure -j "$jobs"
  # Every test under valgrind memcheck, with the programs it starts (4 to 9 minutes).
  tests/valgrind.sh build-valgrind -j "$jobs"
  # The libFuzzer targets (tests/fuzz), STREAMY_FUZZ_SECONDS each on their seeds.
  cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSTREAMY_WITH_HTTP=ON -DSTREAMY_BUILD_FUZZ=ON -DSTREAMY_BUILD_TESTS=OFF \
    -DSTREAMY_BUILD_EXAMPLES=OFF -DSTREAMY_BUILD_BENCH=OFF
  cmake --build build-fuzz --target fuzz -j "$jobs"
  tests/fuzz/run.sh build-fuzz "${STREAMY_FUZZ_SECONDS:-60}"
  echo "bootstrap: every test passed, plainly, under AddressSanitizer + UBSan and under valgrind, and the fuzzers found nothing"
  ;;
*)
  echo "usage: $0 run|test" >&2
  exit 2
  ;;
esac
