#!/usr/bin/env bash
# Installs a QEMU other than the system's into a private prefix, beside it:
#
#   install-qemu.sh 10.0        -> $FERRY_LAB_OPT/qemu-10.0 (default /opt/ferry-lab)
#
# The .debs come from Debian 12's archive (10.0 from bookworm-backports)
# through apt with a private configuration: the machine's package lists,
# sources and installed packages are left as they are (the system keeps its
# QEMU 7.2), and the packages are unpacked with dpkg-deb, never installed.
# QEMU 10.0 runs on Debian 12's own libraries. A lab host then sees it as its
# `qemu-system-x86_64` through use-qemu.sh. Cached: safe to run again.
set -euo pipefail
version=${1:?usage: install-qemu.sh VERSION (e.g. 10.0)}
opt=${FERRY_LAB_OPT:-/opt/ferry-lab}
prefix=$opt/qemu-$version

case $version in
  10.0)
    suite=bookworm-backports
    # qemu-utils brings qemu-img/qemu-nbd/qemu-io; seabios 1.16.3 is what 10.0 requires.
    packages=(qemu-system-x86 qemu-system-common qemu-system-data qemu-utils seabios)
    ;;
  *) echo "install-qemu: no recipe for QEMU $version (known: 10.0)" >&2; exit 2 ;;
esac

if [ -f "$prefix/.installed" ] && "$prefix/usr/bin/qemu-system-x86_64" --version 2>/dev/null | grep -q "version $version\."; then
  exit 0
fi

# A private apt: its own sources, lists and cache under $opt/apt, against the
# mirror this machine already uses for Debian 12.
mirror=$(apt-cache policy 2>/dev/null | awk '$3 == "bookworm/main" && $4 == "amd64" { print $2; exit }')
if [ -z "$mirror" ]; then
  apt-get update -qq
  mirror=$(apt-cache policy 2>/dev/null | awk '$3 == "bookworm/main" && $4 == "amd64" { print $2; exit }')
fi
[ -n "$mirror" ] || { echo "install-qemu: no Debian 12 (bookworm) source in apt's configuration" >&2; exit 1; }
aptdir=$opt/apt
mkdir -p "$aptdir/lists/partial" "$aptdir/cache/archives/partial" "$aptdir/sources.list.d"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main" > "$aptdir/sources.list"
apt_private=(-o "Dir::Etc::SourceList=$aptdir/sources.list" -o "Dir::Etc::SourceParts=$aptdir/sources.list.d"
  -o "Dir::State::Lists=$aptdir/lists" -o "Dir::Cache=$aptdir/cache" -o "APT::Sandbox::User=root")
apt-get "${apt_private[@]}" -qq update

work=$(mktemp -d)
trap 'rm -rf "$work" "$prefix.new"' EXIT
(cd "$work" && apt-get "${apt_private[@]}" -qq download "${packages[@]/%//$suite}") >/dev/null
rm -rf "$prefix.new"
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$prefix.new"; done

# Proven before it is put in place: it loads with this machine's libraries.
binary=$prefix.new/usr/bin/qemu-system-x86_64
if ldd "$binary" | grep -q 'not found'; then
  echo "install-qemu: QEMU $version needs libraries this machine lacks:" >&2
  ldd "$binary" | grep 'not found' >&2
  exit 1
fi
"$binary" --version | grep -q "version $version\." || { echo "install-qemu: unpacked $("$binary" --version | head -1), not $version" >&2; exit 1; }
(cd "$work" && ls ./*.deb) > "$prefix.new/.installed"
rm -rf "$prefix"
mv "$prefix.new" "$prefix"
echo "install-qemu: $("$prefix/usr/bin/qemu-system-x86_64" --version | head -1) in $prefix"
