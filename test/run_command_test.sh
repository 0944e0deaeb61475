#!/usr/bin/env bash
# Runs `scripts/run.sh --once` (setup skipped: ctest runs after the build) on
# a temp state dir and checks that it issued and verified a token.
set -euo pipefail
src=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=$(CLAWOS_SKIP_SETUP=1 CLAWOS_STATE_DIR="$tmp/state" \
      CLAWOS_IDENTITY_LISTEN="unix:$tmp/state/identity/identity.sock" \
      CLAWOS_IDENTITY_METRICS_LISTEN=off bash "$src/scripts/run.sh" --once 2>&1)
echo "$out"
grep -q '^valid: sub=agents/demo aud=clawos-inference-proxy' <<<"$out"
grep -qE '^eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$' <<<"$out"
test "$(stat -c %a "$tmp/state/identity/master.key")" = 600
echo "run command OK"
