#!/usr/bin/env bash
# `clawos completion bash` completes subcommands and options at every level.
set -euo pipefail
bin=$1
script=$(mktemp)
trap 'rm -f "$script"' EXIT
"$bin/clawos" completion bash >"$script"
complete_words() {  # complete_words WORD... : what bash offers for the last word
  bash -c 'source "$0"; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _clawos; echo "${COMPREPLY[*]}"' \
    "$script" "$@"
}
check() {
  local want=$1; shift
  local got; got=$(complete_words "$@")
  [ "$got" = "$want" ] || { echo "completing '$*': want '$want', got '$got'" >&2; exit 1; }
}
check "start status stop" clawos vm st
check "down doctor" clawos d
check "--image" clawos vm start demo --im
check "targets target tail" clawos monitor ta
check "--port-offset" clawos up --port
echo "completion OK"
