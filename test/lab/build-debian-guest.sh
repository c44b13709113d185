#!/usr/bin/env bash
# Builds the lab's real Debian 12 guest from Debian's own packages:
# debootstrap (minbase + systemd, udev, iproute2, the cloud kernel,
# stress-ng) into an ext4 file system made with `mkfs.ext4 -d` (no loop
# mount), converted to qcow2. The image's kernel is booted with -kernel and
# a small initrd of our own that mounts /dev/vda (no partition table, no
# bootloader). The lab's services come from test/lab/debian/ (see its units).
#
# Output: $FERRY_LAB_DIR/debian/{base.qcow2,vmlinux,initrd.cpio,stamp}.
# Cached: rebuilt only when an input changes. Each VM boots a full copy of
# base.qcow2 (Lab.startDebianVm), never an overlay on it: a storage
# migration then copies one self-contained image and the destination needs
# no base.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${FERRY_LAB_DIR:-$here/../../.lab}/debian
mkdir -p "$out"
stamp=$(cat "$here/build-debian-guest.sh" "$here/extract-vmlinux.sh" $(find "$here/debian" -type f | sort) | sha256sum | cut -c1-16)
if [ -f "$out/base.qcow2" ] && [ -f "$out/vmlinux" ] && [ -f "$out/initrd.cpio" ] && [ "$(cat "$out/stamp" 2>/dev/null)" = "$stamp" ]; then
  exit 0
fi
command -v debootstrap >/dev/null || { echo "build-debian-guest: debootstrap is missing (test/lab/install.sh installs it)" >&2; exit 1; }
# The archive this machine's apt already uses (its mirror or proxy).
mirror=$(apt-cache policy | awk '/ bookworm\/main amd64 Packages/ { print $2; exit }')
[ -n "$mirror" ] || { echo "build-debian-guest: no bookworm main in apt's sources (run apt-get update)" >&2; exit 1; }

started=$(date +%s)
# Work next to the output (on disk, not tmpfs: the root tree is ~600 MB).
work=$(mktemp -d "$out/../debian-build.XXXXXX")
root=$work/root
cleanup() {
  # --one-file-system: never follow a mount out of the work tree.
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT

packages=systemd,systemd-sysv,udev,kmod,iproute2,initramfs-tools,linux-image-cloud-amd64,stress-ng
echo "build-debian-guest: debootstrap bookworm from $mirror"
debootstrap --variant=minbase --include="$packages" bookworm "$root" "$mirror" > "$work/debootstrap.log" 2>&1 || {
  tail -20 "$work/debootstrap.log" >&2; echo "build-debian-guest: debootstrap failed" >&2; exit 1
}

# Our own initrd (debian/init: busybox, the virtio modules, switch_root):
# Debian's waits for udev to settle, seconds under TCG. The kernel boots
# uncompressed through QEMU's PVH entry, as the small guest's does.
kernel=$(ls "$root"/boot/vmlinuz-* | head -1)
kver=${kernel##*/vmlinuz-}
bash "$here/extract-vmlinux.sh" "$kernel" "$work/vmlinux"
initrd=$work/initrd
mkdir -p "$initrd"/{bin,dev,proc,sys,root,lib/modules}
cp /bin/busybox "$initrd/bin/busybox"
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk failover net_failover virtio_net; do
  path=$(find "$root/usr/lib/modules/$kver" -name "$m.ko" | head -1)
  [ -n "$path" ] || { echo "build-debian-guest: module $m not found" >&2; exit 1; }
  cp "$path" "$initrd/lib/modules/"
done
install -m 0755 "$here/debian/init" "$initrd/init"
(cd "$initrd" && find . | cpio -o -H newc --quiet) > "$work/initrd.cpio"

# The lab's services, built here as static binaries.
for program in ferry-seq ferry-records ferry-verify-records; do
  gcc -O2 -static -o "$root/usr/local/bin/$program" "$here/debian/$program.c"
done
install -m 0755 "$here/debian/sbin/"* "$root/usr/local/sbin/"
install -m 0644 "$here/debian/units/"* "$root/etc/systemd/system/"

echo ferry-debian > "$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 ferry-debian\n' > "$root/etc/hosts"
# rw on the command line and no fsck pass: nothing remounts or checks the root at boot.
echo '/dev/vda / ext4 rw,errors=remount-ro 0 0' > "$root/etc/fstab"
# A fixed machine id: not a first boot, so systemd-firstboot never waits for input.
head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$root/etc/machine-id"
chroot "$root" systemctl enable --quiet ferry-net.service ferry-seq.socket ferry-command.socket ferry-records.service ferry-stress.service ferry-ready.service
chroot "$root" systemctl set-default --quiet multi-user.target
# No logins on a lab VM: the consoles stay free for the lab's messages, and
# nothing is left to fail for want of hardware (the system must be `running`).
# Boot work a lab VM has no use for goes too (one TCG vCPU runs it all in turn).
chroot "$root" systemctl mask --quiet getty@tty1.service serial-getty@ttyS0.service console-getty.service getty-static.service \
  systemd-firstboot.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer \
  modprobe@dm_mod.service modprobe@drm.service sys-kernel-debug.mount sys-kernel-tracing.mount
# (Debian's own initrd goes too: the lab boots its own.)
rm -rf "$root"/boot/initrd.img-* "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc "$root"/usr/share/man

mkfs.ext4 -q -F -L ferry-root -d "$root" "$work/root.raw" 2G > "$work/mkfs.log"
qemu-img convert -f raw -O qcow2 "$work/root.raw" "$work/base.qcow2"

mv "$work/base.qcow2" "$out/base.qcow2"
mv "$work/vmlinux" "$out/vmlinux"
mv "$work/initrd.cpio" "$out/initrd.cpio"
echo "$stamp" > "$out/stamp"
echo "build-debian-guest: kernel $kver, image $(du -h "$out/base.qcow2" | cut -f1) (2 GiB virtual), built in $(( $(date +%s) - started )) s"
