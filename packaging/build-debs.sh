#!/bin/sh
# SPDX-License-Identifier: MIT
# build-debs.sh: build the Debian packages of Streamy (libstreamy<SOVERSION>,
# libstreamy-dev, streamyctl; their debug symbols in OUTDIR/dbgsym) from this tree into
# OUTDIR, dist/ by default, with debian/ and dpkg-buildpackage. `./bootstrap.sh package` runs it.
# Usage: packaging/build-debs.sh [OUTDIR]
# STREAMY_DEB_VERSION overrides the package version, which is otherwise the version in
# include/streamy.h (the upgrade test builds an older 0.2.0~test1 this way).
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$src/dist}
fail() { echo "build-debs: $*" >&2; exit 1; }

ver() { sed -n "s/^#define STREAMY_VERSION_$1 \([0-9]*\).*/\1/p" "$src/include/streamy.h"; }
major=$(ver MAJOR)
upstream=$major.$(ver MINOR).$(ver PATCH)
version=${STREAMY_DEB_VERSION:-$upstream}
# The library package is named after the SONAME, libstreamy.so.MAJOR.
grep -q "^Package: libstreamy$major\$" "$src/debian/control" ||
  fail "debian/control has no package libstreamy$major for SONAME libstreamy.so.$major:" \
    "rename the package (and debian/libstreamy*.install) after a major version bump"

# Build in a copy, where dpkg-buildpackage writes its files next to the tree, and
# leaves this one clean.
work=$(mktemp -d "${TMPDIR:-/tmp}/streamy-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
tree=$work/streamy-$upstream
mkdir "$tree"
tar -C "$src" --exclude=./.git --exclude='./build*' --exclude=./dist -cf - . |
  tar -C "$tree" -xf -

# One changelog entry, from the version above: the version lives in streamy.h only.
maintainer=$(sed -n 's/^Maintainer: //p' "$src/debian/control")
when=$(git -C "$src" log -1 --format=%cD 2>/dev/null || date -R)
cat > "$tree/debian/changelog" <<END
streamy ($version) unstable; urgency=medium

  * Streamy $upstream, packaged from its source tree. The changes are in the
    project's history and README.

 -- $maintainer  $when
END

jobs=$(nproc 2>/dev/null || echo 2)
(cd "$tree" && DEB_BUILD_OPTIONS="parallel=$jobs ${DEB_BUILD_OPTIONS:-}" \
  dpkg-buildpackage -b -us -uc) > "$work/build.log" 2>&1 || {
  tail -n 60 "$work/build.log" >&2
  fail "dpkg-buildpackage failed (the end of its log is above)"
}

# The debug symbols apart, so that `apt-get install ./dist/*.deb` installs the three.
mkdir -p "$out/dbgsym"
rm -f "$out"/*.deb "$out"/dbgsym/*.deb
mv "$work"/*-dbgsym_*.deb "$out"/dbgsym/
mv "$work"/*.deb "$out"/
echo "build-debs: streamy $version in $out:"
(cd "$out" && ls -1 ./*.deb dbgsym/*.deb) | sed 's|^\./||; s/^/  /'
