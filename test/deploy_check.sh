#!/usr/bin/env bash
# The deployment files against the real daemons (issue 9's CI checks):
#  - every unit sets the hardening the issue asks for (ProtectSystem, ...);
#  - every flag a systemd unit passes is one its daemon accepts (its --help),
#    and every CLAWOS_* variable a unit names is one the daemon reads;
#  - `systemd-analyze verify` accepts every unit;
#  - `systemd-analyze security --offline` rates every unit OK or better
#    (the scores are printed);
#  - every .nix file parses (nix-instantiate --parse);
#  - the NixOS modules pass only flags and CLAWOS_* variables the daemons
#    accept, use every option they declare, and share the units' hardening
#    (test/deploy_check_nix.py).
# Usage: deploy_check.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1
build=$2
fail=0
bad() { echo "FAIL: $*"; fail=1; }

shopt -s nullglob  # a glob that matches nothing is empty, so the checks below can fail
units=("$src"/deploy/systemd/*.service)
[ ${#units[@]} -gt 0 ] || bad "no units in deploy/systemd"

# Which source folders hold a daemon's code (for variables read with getenv).
code_dirs() {
  case "$1" in
    clawos-identity) echo "identity common" ;;
    clawos-vm-launcher) echo "vm-launcher image common identity" ;;
    clawos-orchestrator) echo "orchestrator common" ;;
    clawos-inference-proxy) echo "inference-proxy common identity" ;;
    clawos-monitor) echo "monitor common" ;;
    clawos-controlplane) echo "controlplane common identity" ;;
  esac
}

for unit in "${units[@]}"; do
  name=$(basename "$unit" .service)
  exec_line=$(grep '^ExecStart=' "$unit" | head -n1 | sed 's/^ExecStart=//')
  binary=$(basename "$(echo "$exec_line" | awk '{print $1}')")
  [ -x "$build/bin/$binary" ] || { bad "$name: ExecStart runs $binary, which the build does not make"; continue; }
  help=$("$build/bin/$binary" --help 2>&1 || true)
  for flag in $(echo "$exec_line" | grep -oE '(^| )--[a-z0-9-]+' | tr -d ' ' | sort -u); do
    # A here-string, not `echo | grep -q`: under pipefail, grep -q leaving early
    # can fail echo with SIGPIPE and the pipeline with it (a flake seen in CI).
    grep -qE "^ +$flag( |,|$)" <<< "$help" || bad "$name: $binary has no flag $flag"
  done
  for var in $(grep -oE 'CLAWOS_[A-Z0-9_]+' "$unit" | sort -u); do
    if ! grep -q "Env:$var)" <<< "$help"; then
      dirs=$(code_dirs "$binary")
      found=0
      for d in $dirs; do
        grep -rqs "\"$var\"" "$src/$d" && found=1 && break
      done
      [ $found = 1 ] || bad "$name: $binary neither has a flag for $var nor reads it"
    fi
  done
done

# The hardening issue 9 asks of every unit.
required="NoNewPrivileges ProtectSystem ProtectHome PrivateTmp ProtectKernelModules ProtectKernelLogs
ProtectKernelTunables ProtectClock ProtectHostname RestrictRealtime RestrictSUIDSGID LockPersonality
RestrictNamespaces RestrictAddressFamilies SystemCallFilter SystemCallArchitectures CapabilityBoundingSet
UMask StateDirectory TasksMax"
for unit in "${units[@]}"; do
  for key in $required; do
    grep -q "^$key=" "$unit" || bad "$(basename "$unit") does not set $key"
  done
done

# systemd's own checks, on copies that run the built binaries.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for unit in "${units[@]}" "$src"/deploy/systemd/*.target; do
  sed "s|/usr/local/bin/|$build/bin/|g" "$unit" > "$tmp/$(basename "$unit")"
done
if command -v systemd-analyze > /dev/null; then
  if ! out=$(cd "$tmp" && systemd-analyze verify ./*.service ./*.target 2>&1) || [ -n "$out" ]; then
    bad "systemd-analyze verify: $out"
  fi
  echo "systemd-analyze security --offline (exposure: lower is better; OK means < 5):"
  for unit in "$tmp"/*.service; do
    line=$(cd "$tmp" && systemd-analyze security --offline=true "$(basename "$unit")" 2>/dev/null | tail -n1)
    echo "  $(basename "$unit"): ${line#*: }"
    grep -qE ' (OK|SAFE)' <<< "$line" || bad "$(basename "$unit") is rated worse than OK: $line"
  done
else
  bad "systemd-analyze is missing (scripts/install-deps.sh installs systemd)"
fi

# Every .nix file parses.
mapfile -t nix_files < <(cd "$src" && git ls-files '*.nix' 2>/dev/null || find . -name '*.nix' -not -path './build*')
if [ ${#nix_files[@]} -gt 0 ]; then
  if command -v nix-instantiate > /dev/null; then
    for f in "${nix_files[@]}"; do
      nix-instantiate --parse "$src/$f" > /dev/null 2> "$tmp/nix.err" || bad "$f does not parse: $(grep -v nixbld "$tmp/nix.err")"
    done
    echo "nix-instantiate --parse: ${#nix_files[@]} files"
  else
    bad "nix-instantiate is missing (scripts/install-deps.sh installs nix-bin)"
  fi
else
  bad "no .nix files found under $src"
fi

# The NixOS modules: flags and variables against the daemons, options used,
# the shared hardening.
python3 "$src/test/deploy_check_nix.py" "$src" "$build" || fail=1

[ $fail = 0 ] && echo "deploy check: OK"
exit $fail
