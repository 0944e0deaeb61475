#!/usr/bin/env bash
# The image CLI against real tools: `clawos image verity format` prints the
# same root hash line as veritysetup; sign/verify name what was tampered with.
set -euo pipefail
build=$1
clawos="$build/bin/clawos"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

head -c $((4096 * 300)) /dev/urandom > "$tmp/data"
uuid=6a1f5c2e-0b3d-4f7a-9c8e-1d2b3a4c5e6f
want=$(veritysetup format "$tmp/data" "$tmp/ref" --salt 0a0b0c --uuid $uuid | grep '^Root hash:')
got=$("$clawos" image verity format "$tmp/data" "$tmp/ours" --salt 0a0b0c --uuid $uuid | grep '^Root hash:')
[ "$want" = "$got" ] || fail "root hash line differs: '$want' vs '$got'"
cmp -s "$tmp/ref" "$tmp/ours" || fail "hash files differ"
root=$(awk '{print $3}' <<<"$got")
"$clawos" image verity verify "$tmp/data" "$tmp/ours" "$root" >/dev/null || fail "verify of good data"
printf '\x01' | dd of="$tmp/data" bs=1 seek=$((4096 * 42 + 9)) conv=notrunc status=none
if out=$("$clawos" image verity verify "$tmp/data" "$tmp/ours" "$root" 2>&1); then fail "tampered data verified"; fi
grep -q "data block 42 " <<<"$out" || fail "no block named: $out"

# Signing: a copy of the shared image, re-signed with a fresh key.
cp -r "$build/guest-image" "$tmp/img"
"$clawos" image keygen --out "$tmp/keys" > "$tmp/pub.hex"
"$clawos" image sign --key "$tmp/keys/signing.key" "$tmp/img" >/dev/null
CLAWOS_SIGNING_PUBKEY=$(cat "$tmp/pub.hex") "$clawos" image verify "$tmp/img" >/dev/null || fail "good image"
expect_fail() {  # expect_fail WHAT-IN-MESSAGE ARGS...
  local what=$1; shift
  if out=$("$clawos" image verify "$@" 2>&1); then fail "verified but should not: $*"; fi
  grep -q "$what" <<<"$out" || fail "message lacks '$what': $out"
}
expect_fail "wrong key" --pubkey "$build/guest-keys/signing.pub" "$tmp/img"
cp "$tmp/img/vmlinuz" "$tmp/vmlinuz.orig"
printf '\xff' | dd of="$tmp/img/vmlinuz" bs=1 seek=1000 conv=notrunc status=none
expect_fail "kernel file vmlinuz" --pubkey "$tmp/pub.hex" "$tmp/img"
cp "$tmp/vmlinuz.orig" "$tmp/img/vmlinuz"
rm "$tmp/img/manifest.sig"
expect_fail "unsigned" --pubkey "$tmp/pub.hex" "$tmp/img"
echo "image CLI OK"
