#!/usr/bin/env bash
# Runs `scripts/run.sh --once` (setup skipped: ctest runs after the build) on
# a temp state dir with the shared test image, and checks that the stack came
# up: a token issued and verified, an agent VM started and answering.
set -euo pipefail
src=$1
build=$2
tmp=$(mktemp -d)
offset=$((5000 + $$ % 1000))  # ports 7080-17434: clear of stack_test (21000) and ephemeral ones
cg="clawos-$offset"  # clawos up's cgroup parent for a port offset
cleanup() {
  for h in /unified /memory /cpu /pids ""; do
    rmdir /sys/fs/cgroup$h/$cg/* /sys/fs/cgroup$h/$cg 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
out=$(CLAWOS_SKIP_SETUP=1 CLAWOS_STATE_DIR="$tmp/state" CLAWOS_PORT_OFFSET="$offset" \
      CLAWOS_IMAGE_DIR="$build/guest-image" CLAWOS_SIGNING_PUBKEY="$build/guest-keys/signing.pub" \
      CLAWOS_OPENAI_API_KEY= CLAWOS_ANTHROPIC_API_KEY= \
      bash "$src/scripts/run.sh" --once 2>&1) || { echo "$out"; exit 1; }
echo "$out"
grep -q '^valid: sub=agents/demo aud=clawos-inference-proxy' <<<"$out"
grep -q '^vms/demo RUNNING in .*restored from templates/' <<<"$out"  # the first start makes the template
grep -q '^hello from demo: .*cloud-amd64, /workspace on ext4$' <<<"$out"  # the VM's own hostname
# VM → tunnel (the VM's JWT) → proxy: authenticated (not 401), no provider key here → 503.
grep -q 'no openai upstream is configured on this proxy' <<<"$out"
grep -q '"subject":"agents/demo"' "$tmp/state/proxy/audit.jsonl"
# The monitor watched the VM's VMM from its start: counts, and the exec of QEMU.
grep -q '^targets/demo (vms/demo): [1-9][0-9]* system calls' <<<"$out"
grep -q '"kind":"PROCESS_EXEC".*"vm":"vms/demo"' "$tmp/state/monitor/events.jsonl"
test "$(stat -c %a "$tmp/state/identity/master.key")" = 600
test ! -d "$tmp/state/launcher/vms/demo"  # --once stops and deletes the demo VM
# --once ends with clawos down: no process of the stack is left.
for f in /proc/[0-9]*/cmdline; do
  pid=${f#/proc/}; pid=${pid%/cmdline}
  [ "$pid" = "$$" ] && continue
  if [[ "$(tr '\0' ' ' <"$f" 2>/dev/null)" == *"$tmp/state"* ]]; then
    echo "a process of the stack is still running: $pid $(tr '\0' ' ' <"$f")" >&2; exit 1
  fi
done
echo "run command OK"
