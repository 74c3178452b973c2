#!/usr/bin/env bash
# The tandem-edge .deb (deploy/cmake/packaging.cmake), built here with CPack from this
# build: this build's architecture, the two binaries in /usr/bin, the systemd unit
# pointing at them, the config as a conffile, maintainer scripts, and Depends that cover
# every shared library the binaries link (dpkg-shlibdeps). Skips (77) without dpkg-deb.
# Usage: deb_test.sh BUILD_DIR ARCH
set -euo pipefail
build=$1 arch=$2
command -v dpkg-deb >/dev/null && command -v dpkg-shlibdeps >/dev/null \
  || { echo "SKIP: no dpkg-deb / dpkg-shlibdeps (dpkg-dev)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

cpack --config "$build/CPackConfig.cmake" -G DEB -B "$tmp" >"$tmp/cpack.log" 2>&1 \
  || { cat "$tmp/cpack.log"; fail "cpack"; }
deb=$(ls "$tmp"/tandem-edge_*_"$arch".deb 2>/dev/null) || fail "no tandem-edge_*_$arch.deb: $(ls "$tmp")"
echo "$(basename "$deb"): $(du -k "$deb" | cut -f1) KiB"

[ "$(dpkg-deb --field "$deb" Architecture)" = "$arch" ] || fail "Architecture is not $arch"
files=$(dpkg-deb --contents "$deb" | awk '{print $6}')
for f in ./usr/bin/tandem-edge ./usr/bin/tandem ./usr/lib/systemd/system/tandem-edge.service \
    ./etc/tandem/tandem-edge.env; do
  grep -qx "$f" <<<"$files" || fail "missing $f in:"$'\n'"$files"
done
for f in ./usr/bin/tandem-cloud ./usr/bin/tandem-tune; do
  ! grep -qx "$f" <<<"$files" || fail "$f does not belong in the edge package"
done

dpkg-deb --raw-extract "$deb" "$tmp/x"
grep -q '^ExecStart=/usr/bin/tandem-edge ' "$tmp/x/usr/lib/systemd/system/tandem-edge.service" \
  || fail "the packaged unit does not start /usr/bin/tandem-edge"
grep -qx /etc/tandem/tandem-edge.env "$tmp/x/DEBIAN/conffiles" || fail "config is not a conffile"
for s in postinst prerm postrm; do
  [ -x "$tmp/x/DEBIAN/$s" ] || fail "no executable $s"
done
for b in tandem-edge tandem; do
  ! readelf -S "$tmp/x/usr/bin/$b" | grep -q '\.symtab' || fail "$b is not stripped"
done

# Depends names a package for each library the binaries need (not libc alone).
depends=$(dpkg-deb --field "$deb" Depends)
echo "Depends: $depends"
for lib in libgrpc++ libprotobuf libabsl libprometheus-cpp-pull libcpp-httplib; do
  grep -q "$lib" <<<"$depends" || fail "Depends lacks $lib"
done
echo "PASS"
