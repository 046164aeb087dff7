#!/bin/sh
# SPDX-License-Identifier: MIT
# packaging.sh: install into a temporary prefix, then check what a consumer sees:
# the files, the exported symbols, the SONAME, the headers alone, and the examples
# built with pkg-config and with find_package(streamy).
# Usage: packaging.sh BUILD_DIR SOURCE_DIR C_COMPILER [SANITIZE_FLAGS]
set -eu
build=$1 src=$2 cc=$3 san=${4:-}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/streamy-pkg.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
fail() { echo "packaging: $*" >&2; exit 1; }
extra=""
[ -n "$san" ] && extra="-fsanitize=$san"

cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(ls -d "$prefix"/lib*/ | head -n 1); libdir=${libdir%/}
for f in include/streamy.h include/streamy/store.h bin/streamyctl share/man/man1/streamyctl.1; do
  [ -f "$prefix/$f" ] || fail "not installed: $f"
done
for f in libstreamy.a pkgconfig/streamy.pc cmake/streamy/streamyConfig.cmake \
         cmake/streamy/streamyConfigVersion.cmake cmake/streamy/streamyTargets.cmake; do
  [ -f "$libdir/$f" ] || fail "not installed: $libdir/$f"
done
[ ! -e "$prefix/include/streamy_int.h" ] || fail "a private header was installed"

# Only streamy_* symbols leave the shared library, exactly the expected ones.
so=$(ls "$libdir"/libstreamy.so.*.*.* | head -n 1)
nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | sort > "$tmp/exports"
if ! diff -u "$src/tests/exports.txt" "$tmp/exports"; then
  fail "exported symbols differ from tests/exports.txt"
fi
soname=$(readelf -d "$so" | sed -n 's/.*SONAME.*\[\(.*\)\].*/\1/p')
major=$(sed -n 's/^#define STREAMY_VERSION_MAJOR \([0-9]*\).*/\1/p' "$src/include/streamy.h")
[ "$soname" = "libstreamy.so.$major" ] || fail "SONAME is '$soname', want libstreamy.so.$major"

# Each public header compiles alone, as strict C99 and as C++, and its initialisers
# leave no field without one (-Wextra's missing-field-initializers).
inits='streamy_options o = STREAMY_OPTIONS_INIT; streamy_call c = STREAMY_CALL_INIT;
  streamy_answer a = STREAMY_ANSWER_INIT; streamy_statistics s = STREAMY_STATISTICS_INIT;
  (void)o; (void)c; (void)a; (void)s;'
for hdr in streamy.h streamy/store.h; do
  body=""
  [ "$hdr" = streamy.h ] && body=$inits
  [ "$hdr" = streamy/store.h ] && body='streamy_store st = STREAMY_STORE_INIT; (void)st;'
  printf '#include <%s>\nint main(void) { %s return 0; }\n' "$hdr" "$body" > "$tmp/h.c"
  $cc -std=c99 -pedantic -Wall -Wextra -Werror -I"$prefix/include" -c "$tmp/h.c" -o "$tmp/h.o" \
    || fail "$hdr does not compile alone as C99"
  if command -v c++ >/dev/null 2>&1; then
    cp "$tmp/h.c" "$tmp/h.cc"
    c++ -std=c++11 -pedantic -Wall -Wextra -Werror -I"$prefix/include" -c "$tmp/h.cc" \
      -o "$tmp/h.o" || fail "$hdr does not compile as C++"
  fi
done

export PKG_CONFIG_PATH="$libdir/pkgconfig"
export LD_LIBRARY_PATH="$libdir"
run_embed() {
  out=$("$@" "sqlite:$tmp/example.db") || fail "$1 failed: $out"
  echo "$out" | grep -q "movie-4: refused, limit reached (3 of 3 active)" \
    || fail "$1 did not refuse the fourth stream: $out"
}

# pkg-config, shared and static.
# shellcheck disable=SC2046
$cc $extra "$src/examples/embed.c" $(pkg-config --cflags --libs streamy) -o "$tmp/embed_pc"
run_embed "$tmp/embed_pc"
# libstreamy.a through the exact line a static consumer is told to use,
# `pkg-config --static --libs streamy`, from a copy of the prefix without the shared
# library, so that -lstreamy can only be the archive. Its dependencies may be shared
# libraries: the line must link with the -dev packages the README installs (Debian's
# libpq.pc asks for static libraries that Debian does not ship, so streamy.pc must
# not send the linker there).
sprefix=$tmp/static-prefix
cp -a "$prefix" "$sprefix"
slibdir=$sprefix/${libdir#"$prefix"/}
rm -f "$slibdir"/libstreamy.so*
static_libs=$(PKG_CONFIG_PATH="$slibdir/pkgconfig" pkg-config --static --libs streamy) \
  || fail "pkg-config --static --libs streamy failed"
# shellcheck disable=SC2046,SC2086
$cc $extra "$src/examples/embed.c" $(PKG_CONFIG_PATH="$slibdir/pkgconfig" pkg-config --cflags streamy) \
  $static_libs -o "$tmp/embed_static" \
  || fail "a static consumer does not link with: pkg-config --static --libs streamy = $static_libs"
run_embed "$tmp/embed_static"
if ldd "$tmp/embed_static" | grep -q libstreamy; then fail "static build links libstreamy.so"; fi
# shellcheck disable=SC2046
$cc $extra "$src/examples/custom_store.c" $(pkg-config --cflags --libs streamy) -lpthread \
  -o "$tmp/custom_pc"
"$tmp/custom_pc" >/dev/null || fail "custom_store (pkg-config) failed"

# find_package(streamy), shared and static.
cmake -S "$src/examples/consumer" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="$extra" >/dev/null
cmake --build "$tmp/consumer" >/dev/null
run_embed "$tmp/consumer/consumer_embed"
run_embed "$tmp/consumer/consumer_embed_static"
"$tmp/consumer/consumer_custom_store" >/dev/null || fail "custom_store (CMake) failed"

# The installed CLI runs from its prefix.
"$prefix/bin/streamyctl" --version >/dev/null || fail "installed streamyctl does not run"
echo "packaging: ok ($prefix)"
