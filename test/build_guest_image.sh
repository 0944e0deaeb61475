#!/usr/bin/env bash
# ctest fixture: builds the guest image once per run into BUILD/guest-image,
# with a throwaway signing key in BUILD/guest-keys, and signs it. Every boot
# test shares it.
set -euo pipefail
build=$1
out="$build/guest-image"
keys="$build/guest-keys"
rm -rf "$out" "$keys"
"$build/bin/clawos" image build --out "$out"
"$build/bin/clawos" image keygen --out "$keys" > "$keys.pub.hex"
"$build/bin/clawos" image sign --key "$keys/signing.key" "$out"
"$build/bin/clawos" image verify --pubkey "$keys/signing.pub" --full "$out"
ls -l "$out"
