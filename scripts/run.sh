#!/usr/bin/env bash
# The main job: installs what ClawOS needs, builds it, and brings the stack up
# on its embedded default with `clawos up` (a signed, dm-verity-sealed guest
# image built once; clawos-identity, clawos-inference-proxy, clawos-monitor,
# clawos-vm-launcher, clawos-controlplane and, when installed, nginx with TLS;
# each health-gated, in order, as daemons that keep running). Then it starts
# one agent VM ("demo") through the control plane, runs a command inside it
# and calls its inference endpoint from inside it (through the launcher's
# tunnel, with the VM's own token, to the proxy). `clawos down` stops it all.
# Provider keys: CLAWOS_OPENAI_API_KEY / CLAWOS_ANTHROPIC_API_KEY or
# `clawos secret put openai|anthropic`; without one the proxy answers 503 and
# says so.
#
#   sudo scripts/run.sh            # set up, build, clawos up, the demo VM
#   sudo scripts/run.sh --once     # ... then delete the VM and clawos down
# Env: CLAWOS_STATE_DIR (default /var/lib/clawos), CLAWOS_PORT_OFFSET (added
# to every TCP port), CLAWOS_SKIP_SETUP=1 skips install+build,
# CLAWOS_IMAGE_DIR + CLAWOS_SIGNING_PUBKEY use a prebuilt signed image.
set -euo pipefail
cd "$(dirname "$0")/.."
once=0
[ "${1:-}" = "--once" ] && once=1
[ "$(id -u)" -eq 0 ] || { echo "run: needs root (VM cgroups, the eBPF monitor, /var/lib/clawos)" >&2; exit 1; }

if [ "${CLAWOS_SKIP_SETUP:-0}" != 1 ]; then
  bash scripts/install-deps.sh
  bash scripts/build.sh
fi
bin=$PWD/build/bin
state="${CLAWOS_STATE_DIR:-/var/lib/clawos}"
offset="${CLAWOS_PORT_OFFSET:-0}"
export CLAWOS_STATE_DIR="$state" CLAWOS_PORT_OFFSET="$offset"
clawos() { "$bin/clawos" "$@"; }

clawos doctor || echo "run: doctor found problems (above); trying anyway" >&2
clawos up

# The CLI talks to the control plane; the daemons' own commands (token,
# monitor) to their unix sockets.
export CLAWOS_URL="http://127.0.0.1:$((8080 + offset))"
export CLAWOS_TOKEN_FILE="$state/controlplane/admin.token"
export CLAWOS_IDENTITY_ADDR="unix:$state/identity/identity.sock"
export CLAWOS_MONITOR_ADDR="unix:$state/monitor/monitor.sock"
export CLAWOS_LAUNCHER_ADDR="unix:$state/launcher/launcher.sock"
export CLAWOS_PROXY_ADMIN_ADDR="unix:$state/proxy/admin.sock"

token=$(clawos token issue --subject agents/demo --audience clawos-inference-proxy --ttl 10m)
echo "$token" | clawos token verify --audience clawos-inference-proxy

clawos vm delete --force demo >/dev/null 2>&1 || true
clawos vm start demo --image agent --label started-by=run.sh
clawos vm exec demo -- sh -c 'echo "hello from $(hostname): $(uname -r), /workspace on $(grep " /workspace " /proc/mounts | cut -d" " -f3)"'
echo "inference from inside the VM (no key in the guest; the proxy's answer):"
clawos vm exec demo -- sh -c 'printf "GET /v1/models HTTP/1.0\r\n\r\n" | nc 127.0.0.1 11435 | tail -n 1; echo'
echo
echo "a workflow through the orchestrator (docs/examples/fan-in.yaml):"
wf="run-sh-$(date +%s)"
clawos workflow submit docs/examples/fan-in.yaml --id "$wf" --wait
clawos workflow output "$wf" report
echo
echo "what the monitor saw of the VM's VMM so far:"
clawos monitor stats --target demo --top 5
echo
if [ "$once" = 1 ]; then
  clawos vm delete --force demo
  clawos down
  exit 0
fi
cat <<HINTS
The stack is up, with the agent VM vms/demo. Try (as root; the CLI finds the
control plane at $CLAWOS_URL and its token in $state/controlplane/admin.token):
  $bin/clawos vm list
  $bin/clawos vm exec demo -- ls -l /workspace
  $bin/clawos vm logs demo --tail 20
  $bin/clawos workflow list
  $bin/clawos workflow get $wf
  $bin/clawos doctor
  tail -n 3 $state/proxy/audit.jsonl
  CLAWOS_MONITOR_ADDR=$CLAWOS_MONITOR_ADDR $bin/clawos monitor tail --target demo
Stop everything with: $bin/clawos down
HINTS
