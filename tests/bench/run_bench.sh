#!/bin/sh
# SPDX-License-Identifier: MIT
# run_bench.sh: build streamy_bench as the published figures were built, then run it.
# Arguments go to the benchmark, e.g. `tests/bench/run_bench.sh --quick`.
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${STREAMY_BENCH_BUILD_DIR:-/tmp/build-bench}
# RelWithDebInfo: optimised like a release, with symbols so perf can name functions.
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target streamy_bench >/dev/null
exec "$build/tests/bench/streamy_bench" "$@"
