#!/usr/bin/env bash
# Installs everything ferry's lab and tests need on Debian 12 (as root): the
# system packages, then the npm dependencies (which bring Deno and Bun).
# Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/../.."
# (openssh-client: ferry resolves SSH settings with `ssh -G`; zsh: the completion test;
# debootstrap, e2fsprogs: build-debian-guest.sh;
# openssl: the lab's TLS certificates, make-pki.sh; tcpdump: the TLS test captures the stream)
packages=(qemu-system-x86 qemu-utils openssh-server openssh-client busybox-static iproute2 gcc libc6-dev lz4 cpio tmux procps zsh debootstrap e2fsprogs openssl tcpdump)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# build-guest.sh needs the package lists to find the cloud kernel; refresh them
# when something is missing or the lists were never fetched.
if [ ${#missing[@]} -gt 0 ] || ! apt-cache show linux-image-cloud-amd64 >/dev/null 2>&1; then
  apt-get update -qq
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "install: apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# QEMU 10.0 beside the system's 7.2, for lab hosts that run it (use-qemu.sh).
bash test/lab/install-qemu.sh 10.0
# sshd's privilege-separation directory; openssh-server's service would make it.
mkdir -p /run/sshd
if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; else npm install --no-audit --no-fund --loglevel=error; fi
echo "install: ready (qemu $(qemu-system-x86_64 --version | head -1 | awk '{print $4}') and $(/opt/ferry-lab/qemu-10.0/usr/bin/qemu-system-x86_64 --version | head -1 | awk '{print $4}'), node $(node --version))"
