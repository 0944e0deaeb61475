#!/usr/bin/env bash
# Reproducible builds: building again from the same inputs gives the same
# root filesystem bytes, root hash, initramfs and manifest.
set -euo pipefail
build=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$build/bin/clawos" image build --out "$tmp/again" >/dev/null
for f in rootfs.img rootfs.verity initramfs.cpio vmlinux vmlinuz manifest.json; do
  cmp -s "$build/guest-image/$f" "$tmp/again/$f" || { echo "FAIL: $f differs between two builds" >&2; exit 1; }
done
echo "reproducible: $(grep -o '"root_hash":"[0-9a-f]*"' "$tmp/again/manifest.json")"
