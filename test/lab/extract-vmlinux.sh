#!/usr/bin/env bash
# extract-vmlinux.sh BZIMAGE OUT: the ELF vmlinux inside a Debian bzImage, for
# QEMU's PVH entry (no decompression in the guest: faster under TCG). The
# bzImage carries it lz4-compressed: find the lz4 frame magic and decompress
# from there (lz4 stops at the end of the frame).
set -euo pipefail
bz=$1 out=$2
offset=$(grep -obUaP '\x02\x21\x4c\x18' "$bz" | head -1 | cut -d: -f1)
[ -n "$offset" ] || { echo "extract-vmlinux: no lz4 payload in $bz" >&2; exit 1; }
tail -c +"$((offset + 1))" "$bz" | lz4 -dc 2>/dev/null > "$out" || true
[ "$(head -c 4 "$out" | od -An -c | tr -d ' ')" = '177ELF' ] || { echo "extract-vmlinux: the extracted kernel is not ELF" >&2; exit 1; }
