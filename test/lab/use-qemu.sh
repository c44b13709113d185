#!/bin/sh
# Run ON a lab host (inside its mount namespace: over SSH, or Lab.runOnHost):
#
#   sh use-qemu.sh 10.0      this host's QEMU becomes 10.0 ($FERRY_LAB_OPT/qemu-10.0)
#   sh use-qemu.sh 7.2       back to the system's QEMU (Debian 12's 7.2)
#
# It bind-mounts the prefix's binaries, firmware and modules over the usual
# paths in this host's own mount namespace, so every process started here
# afterwards runs `qemu-system-x86_64` (argv and /proc/PID/cmdline exactly as on
# a real host: no wrapper, no /opt path) and finds its ROMs. QEMUs already
# running keep the binary they started with, as on a host upgraded in place.
# Safe to run again; prints the version now in use.
set -eu
version=${1:?usage: use-qemu.sh VERSION (7.2 or an installed one, e.g. 10.0)}
opt=${FERRY_LAB_OPT:-/opt/ferry-lab}

# Whatever the system packages put there, and the prefix's copy of each.
paths='/usr/bin/qemu-system-x86_64 /usr/bin/qemu-img /usr/bin/qemu-nbd /usr/bin/qemu-io /usr/bin/qemu-storage-daemon
/usr/share/qemu /usr/share/seabios /usr/lib/x86_64-linux-gnu/qemu'

mounted() { awk -v p="$1" '$5 == p { found = 1 } END { exit !found }' /proc/self/mountinfo; }

# Never on the machine itself: it would swap QEMU under every lab and user.
# Only a lab host's own mount namespace has its local storage mounted (lab.sh).
if ! mounted /srv/ferry-host; then
  echo "use-qemu: run me on a lab host (in its own mount namespace, where /srv/ferry-host is mounted), not on the machine itself" >&2
  exit 1
fi

current() { qemu-system-x86_64 --version | sed -n '1s/^QEMU emulator version \([0-9]*\.[0-9]*\).*/\1/p'; }

if [ "$(current)" = "$version" ]; then
  qemu-system-x86_64 --version | head -1
  exit 0
fi
# Lazily: a running QEMU's binary and loaded modules stay busy, and it keeps them.
for path in $paths; do
  while mounted "$path"; do umount -l "$path"; done
done

if [ "$(current)" != "$version" ]; then
  prefix=$opt/qemu-$version
  if [ ! -f "$prefix/.installed" ]; then
    echo "use-qemu: QEMU $version is neither this system's ($(current)) nor installed in $prefix (run test/lab/install-qemu.sh $version)" >&2
    exit 1
  fi
  for path in $paths; do
    if [ -e "$path" ] && [ -e "$prefix$path" ]; then mount --bind "$prefix$path" "$path"; fi
  done
fi
[ "$(current)" = "$version" ] || { echo "use-qemu: wanted QEMU $version, this host has $(current)" >&2; exit 1; }
qemu-system-x86_64 --version | head -1
