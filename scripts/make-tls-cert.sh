#!/usr/bin/env bash
# Makes a self-signed TLS certificate for the control plane's nginx front
# (the embedded default). For a real deployment use a certificate from your
# CA or ACME instead (docs/deploy-nginx.md).
#
#   scripts/make-tls-cert.sh [DIR] [NAME...]
#
# DIR defaults to /etc/clawos/tls; NAMEs (DNS names or IP addresses) default
# to localhost, 127.0.0.1 and this host's name. Writes DIR/clawos.crt (0644)
# and DIR/clawos.key (0600, DIR 0700). Keeps an existing pair unless
# --force is given. Clients trust it with `--cacert DIR/clawos.crt` (or
# CLAWOS_CA_FILE).
set -euo pipefail
force=0
args=()
for a in "$@"; do
  if [[ "$a" == --force ]]; then force=1; else args+=("$a"); fi
done
dir="${args[0]:-/etc/clawos/tls}"
names=("${args[@]:1}")
if [[ ${#names[@]} -eq 0 ]]; then
  names=(localhost 127.0.0.1 "$(hostname)")
fi
if [[ -s "$dir/clawos.crt" && -s "$dir/clawos.key" && $force -eq 0 ]]; then
  echo "make-tls-cert: $dir/clawos.crt exists (--force makes a new one)" >&2
  exit 0
fi
command -v openssl >/dev/null || { echo "make-tls-cert: openssl is not installed" >&2; exit 1; }
san=""
for n in "${names[@]}"; do
  if [[ "$n" =~ ^[0-9.]+$ || "$n" == *:* ]]; then san+="IP:$n,"; else san+="DNS:$n,"; fi
done
san="${san%,}"
umask 077
mkdir -p "$dir"
chmod 0700 "$dir"
tmp="$(mktemp -d "$dir/.new.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
  -subj "/CN=${names[0]}/O=ClawOS" -addext "subjectAltName=$san" \
  -addext "extendedKeyUsage=serverAuth" \
  -keyout "$tmp/clawos.key" -out "$tmp/clawos.crt" 2>/dev/null
chmod 0600 "$tmp/clawos.key"
chmod 0644 "$tmp/clawos.crt"
mv -f "$tmp/clawos.key" "$dir/clawos.key"
mv -f "$tmp/clawos.crt" "$dir/clawos.crt"
echo "make-tls-cert: $dir/clawos.crt for $san (self-signed, 825 days)"
