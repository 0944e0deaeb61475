#!/usr/bin/env bash
# The main job: installs what ClawOS needs, builds it, and runs the stack on
# its embedded default. Until the VM launcher exists (issue 4) the stack is
# clawos-identity: it starts the daemon, issues an agent token, verifies it,
# and keeps the daemon in the foreground (Ctrl-C stops it).
#
#   sudo scripts/run.sh            # set up, build, run
#   scripts/run.sh --once          # ... and stop after the token check
# Env: CLAWOS_STATE_DIR (default /var/lib/clawos as root, else
# ~/.local/state/clawos), CLAWOS_SKIP_SETUP=1 skips install+build, and every
# CLAWOS_IDENTITY_* variable of clawos-identity (see docs/identity.md).
set -euo pipefail
cd "$(dirname "$0")/.."
once=0
[ "${1:-}" = "--once" ] && once=1

if [ "${CLAWOS_SKIP_SETUP:-0}" != 1 ]; then
  bash scripts/install-deps.sh
  bash scripts/build.sh
fi

if [ "$(id -u)" -eq 0 ]; then default_state=/var/lib/clawos; else default_state="$HOME/.local/state/clawos"; fi
state="${CLAWOS_STATE_DIR:-$default_state}"
mkdir -p "$state" && chmod 700 "$state"
sock="$state/identity/identity.sock"
export CLAWOS_IDENTITY_ADDR="unix:$sock"
: "${CLAWOS_IDENTITY_LISTEN:=127.0.0.1:2082,unix:$sock}"
export CLAWOS_IDENTITY_LISTEN

build/bin/clawos-identity --state-dir "$state/identity" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT INT TERM
for _ in $(seq 1 100); do
  [ -S "$sock" ] && break
  kill -0 $pid 2>/dev/null || { echo "run: clawos-identity exited; see its log above" >&2; exit 1; }
  sleep 0.1
done
[ -S "$sock" ] || { echo "run: clawos-identity did not open $sock" >&2; exit 1; }
for _ in $(seq 1 50); do  # the socket exists a moment before it accepts
  build/bin/clawos token jwks >/dev/null 2>&1 && break
  sleep 0.1
done

token=$(build/bin/clawos token issue --subject agents/demo --audience clawos-inference-proxy --ttl 10m)
echo "$token" | build/bin/clawos token verify --audience clawos-inference-proxy
echo
echo "clawos-identity is serving on $CLAWOS_IDENTITY_LISTEN (state in $state/identity)."
echo "An agent token for agents/demo (10 minutes):"
echo "$token"
echo
echo "Try:  export CLAWOS_IDENTITY_ADDR=unix:$sock"
echo "      build/bin/clawos token jwks"
echo "      echo -n sk-example | build/bin/clawos secret put openai"
if [ "$once" = 1 ]; then exit 0; fi
echo "Ctrl-C stops it."
wait $pid
