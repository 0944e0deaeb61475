#!/usr/bin/env bash
# The main job: installs what ClawOS needs, builds it, and runs the stack on
# its embedded default: clawos-identity, clawos-inference-proxy,
# clawos-monitor, then clawos-vm-launcher, then one agent VM ("demo") booted from a signed,
# dm-verity-sealed image, with a command run inside it and a call from inside
# it to its inference endpoint (through the launcher's tunnel, with the VM's
# own token, to the proxy). Daemons stay in the foreground (Ctrl-C stops the
# VM and the daemons). Provider keys: CLAWOS_OPENAI_API_KEY /
# CLAWOS_ANTHROPIC_API_KEY or `clawos secret put openai|anthropic`; without
# one the proxy answers 503 and says so.
#
#   sudo scripts/run.sh            # set up, build, run
#   sudo scripts/run.sh --once     # ... and stop after the VM answered
# Env: CLAWOS_STATE_DIR (default /var/lib/clawos), CLAWOS_SKIP_SETUP=1 skips
# install+build, CLAWOS_IMAGE_DIR + CLAWOS_SIGNING_PUBKEY use a prebuilt
# signed image instead of building one into $CLAWOS_STATE_DIR/images/agent,
# CLAWOS_INFERENCE_PROXY_URL turns the guests' inference tunnel on, and every
# CLAWOS_IDENTITY_* / CLAWOS_LAUNCHER_* variable of the daemons
# (docs/identity.md, docs/vm-launcher.md).
set -euo pipefail
cd "$(dirname "$0")/.."
once=0
[ "${1:-}" = "--once" ] && once=1
[ "$(id -u)" -eq 0 ] || { echo "run: needs root (VM cgroups, /var/lib/clawos)" >&2; exit 1; }

if [ "${CLAWOS_SKIP_SETUP:-0}" != 1 ]; then
  bash scripts/install-deps.sh
  bash scripts/build.sh
fi
bin=build/bin
state="${CLAWOS_STATE_DIR:-/var/lib/clawos}"
mkdir -p "$state" && chmod 700 "$state"
log() { echo "run: $*" >&2; }

pids=()
cleanup() {
  if [ -n "${CLAWOS_LAUNCHER_ADDR:-}" ]; then
    "$bin/clawos" vm delete --force demo >/dev/null 2>&1 || true
  fi
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

# wait_for SOCKET PID PROBE...: until PROBE succeeds against the daemon.
wait_for() {
  local sock=$1 pid=$2; shift 2
  for _ in $(seq 1 150); do
    if [ -S "$sock" ] && "$@" >/dev/null 2>&1; then return 0; fi
    kill -0 "$pid" 2>/dev/null || { log "$(basename "$sock" .sock) exited; see its log above"; exit 1; }
    sleep 0.1
  done
  log "nothing answers on $sock"; exit 1
}

# 1. clawos-identity: the VMs' tokens.
id_sock="$state/identity/identity.sock"
export CLAWOS_IDENTITY_ADDR="unix:$id_sock"
: "${CLAWOS_IDENTITY_LISTEN:=127.0.0.1:2082,unix:$id_sock}"
export CLAWOS_IDENTITY_LISTEN
"$bin/clawos-identity" --state-dir "$state/identity" &
pids+=($!)
wait_for "$id_sock" "${pids[-1]}" "$bin/clawos" token jwks
token=$("$bin/clawos" token issue --subject agents/demo --audience clawos-inference-proxy --ttl 10m)
echo "$token" | "$bin/clawos" token verify --audience clawos-inference-proxy

# 2. clawos-inference-proxy: the VMs' only road to an LLM.
: "${CLAWOS_PROXY_ADDR:=127.0.0.1:11435}"
export CLAWOS_PROXY_ADDR
"$bin/clawos-inference-proxy" --state-dir "$state/proxy" &
pids+=($!)
for _ in $(seq 1 100); do
  curl -s -o /dev/null "http://$CLAWOS_PROXY_ADDR/v1/models" && break
  kill -0 "${pids[-1]}" 2>/dev/null || { log "clawos-inference-proxy exited; see its log above"; exit 1; }
  sleep 0.1
done
export CLAWOS_INFERENCE_PROXY_URL="http://$CLAWOS_PROXY_ADDR"

# 3. A signed guest image (built once, then reused).
if [ -z "${CLAWOS_IMAGE_DIR:-}" ]; then
  CLAWOS_IMAGE_DIR="$state/images/agent"
  keys="$state/image-key"
  if [ ! -f "$keys/signing.key" ]; then
    mkdir -p "$state/images"
    "$bin/clawos" image keygen --out "$keys" >/dev/null
  fi
  if [ ! -f "$CLAWOS_IMAGE_DIR/manifest.sig" ]; then
    log "building the guest image into $CLAWOS_IMAGE_DIR (once; a few minutes)"
    rm -rf "$CLAWOS_IMAGE_DIR"
    "$bin/clawos" image build --out "$CLAWOS_IMAGE_DIR"
    "$bin/clawos" image sign --key "$keys/signing.key" "$CLAWOS_IMAGE_DIR"
  fi
  export CLAWOS_SIGNING_PUBKEY="$keys/signing.pub"
fi
: "${CLAWOS_SIGNING_PUBKEY:?set CLAWOS_SIGNING_PUBKEY with CLAWOS_IMAGE_DIR}"
export CLAWOS_SIGNING_PUBKEY

# 4. clawos-monitor: every system call of every VM counted, the sensitive
#    ones detailed (events in $state/monitor/events.jsonl; --siem for a SIEM).
m_sock="$state/monitor/monitor.sock"
export CLAWOS_MONITOR_ADDR="unix:$m_sock"
: "${CLAWOS_MONITOR_LISTEN:=127.0.0.1:2083,unix:$m_sock}"
export CLAWOS_MONITOR_LISTEN
"$bin/clawos-monitor" --state-dir "$state/monitor" &
pids+=($!)
wait_for "$m_sock" "${pids[-1]}" "$bin/clawos" monitor targets

# 5. clawos-vm-launcher (it hands each VM's cgroup to the monitor: CLAWOS_MONITOR_ADDR).
l_sock="$state/launcher/launcher.sock"
export CLAWOS_LAUNCHER_ADDR="unix:$l_sock"
: "${CLAWOS_LAUNCHER_LISTEN:=127.0.0.1:2080,unix:$l_sock}"
export CLAWOS_LAUNCHER_LISTEN
"$bin/clawos-vm-launcher" --state-dir "$state/launcher" &
pids+=($!)
wait_for "$l_sock" "${pids[-1]}" "$bin/clawos" vm list
if ! "$bin/clawos" image list | grep -q '^agent '; then
  "$bin/clawos" image import "$CLAWOS_IMAGE_DIR" --name agent
fi

# 6. An agent VM, a command inside it, and an inference call from inside it.
"$bin/clawos" vm delete --force demo >/dev/null 2>&1 || true
"$bin/clawos" vm start demo --image agent --label started-by=run.sh
"$bin/clawos" vm exec demo -- sh -c 'echo "hello from $(hostname): $(uname -r), /workspace on $(grep " /workspace " /proc/mounts | cut -d" " -f3)"'
echo "inference from inside the VM (no key in the guest; the proxy's answer):"
"$bin/clawos" vm exec demo -- sh -c 'printf "GET /v1/models HTTP/1.0\r\n\r\n" | nc 127.0.0.1 11435 | tail -n 1; echo'
echo
echo "what the monitor saw of the VM's VMM so far:"
"$bin/clawos" monitor stats --target demo --top 5
echo
echo "The stack is up: clawos-identity ($CLAWOS_IDENTITY_LISTEN), clawos-inference-proxy"
echo "($CLAWOS_PROXY_ADDR), clawos-monitor ($CLAWOS_MONITOR_LISTEN), clawos-vm-launcher"
echo "($CLAWOS_LAUNCHER_LISTEN) and the agent VM vms/demo. Try:"
echo "  export CLAWOS_LAUNCHER_ADDR=$CLAWOS_LAUNCHER_ADDR CLAWOS_IDENTITY_ADDR=$CLAWOS_IDENTITY_ADDR"
echo "  export CLAWOS_MONITOR_ADDR=$CLAWOS_MONITOR_ADDR"
echo "  $bin/clawos vm list"
echo "  $bin/clawos vm exec demo -- ls -l /workspace"
echo "  $bin/clawos vm logs demo --tail 20"
echo "  tail -n 3 $state/proxy/audit.jsonl"
echo "  $bin/clawos monitor tail --target demo"
if [ "$once" = 1 ]; then exit 0; fi
echo "Ctrl-C stops the VM and the daemons."
wait "${pids[@]}"
