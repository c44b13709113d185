#!/usr/bin/env bash
# Builds the lab's guest: Debian's cloud kernel, unpacked to an ELF vmlinux
# (booted through QEMU's PVH entry), and a busybox initramfs with the
# workload. Output: $FERRY_LAB_DIR/guest/{vmlinux,initramfs.cpio}. Cached:
# rebuilt only when an input changes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${FERRY_LAB_DIR:-$here/../../.lab}/guest
mkdir -p "$out"
stamp=$(cat "$here/build-guest.sh" "$here/extract-vmlinux.sh" "$here/guest/init" "$here/guest/"*.c "$here/guest/"*.h | sha256sum | cut -c1-16)
if [ -f "$out/vmlinux" ] && [ -f "$out/initramfs.cpio" ] && [ "$(cat "$out/stamp" 2>/dev/null)" = "$stamp" ]; then
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The metapackage names the current kernel package; fetch and unpack it.
kpkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-/ { print $2; exit }')
[ -n "$kpkg" ] || { echo "build-guest: no linux-image-cloud-amd64 in apt (run apt-get update)" >&2; exit 1; }
(cd "$work" && apt-get download "$kpkg" >/dev/null 2>&1) || { echo "build-guest: apt-get download $kpkg failed" >&2; exit 1; }
dpkg-deb -x "$work"/"$kpkg"_*.deb "$work/pkg"
kver=${kpkg#linux-image-}

bash "$here/extract-vmlinux.sh" "$work/pkg/boot/vmlinuz-$kver" "$work/vmlinux"

root=$work/root
mkdir -p "$root"/{bin,dev,proc,sys,lib/modules}
cp /bin/busybox "$root/bin/busybox"
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net virtio_blk; do
  path=$(find "$work/pkg/lib/modules/$kver" -name "$m.ko" | head -1)
  [ -n "$path" ] || { echo "build-guest: module $m not found" >&2; exit 1; }
  cp "$path" "$root/lib/modules/"
done
gcc -O2 -static -pthread -o "$root/workload" "$here/guest/workload.c" "$here/guest/disk-writer.c" "$here/guest/disk-records.c"
install -m 0755 "$here/guest/init" "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet) > "$work/initramfs.cpio"

mv "$work/vmlinux" "$out/vmlinux"
mv "$work/initramfs.cpio" "$out/initramfs.cpio"
echo "$stamp" > "$out/stamp"
echo "build-guest: kernel $kver, initramfs $(du -h "$out/initramfs.cpio" | cut -f1)"
