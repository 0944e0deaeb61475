#!/usr/bin/env bash
# ctest openapi_validate: installs the pinned validator (package-lock.json)
# into WORK and validates DOC against the operations clawos-openapi-gen says
# the protos annotate. SKIPPED (77) without node/npm or the npm registry.
set -euo pipefail
doc=$1 gen=$2 work=$3
here="$(cd "$(dirname "$0")" && pwd)"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "SKIPPED: node and npm are not installed"; exit 77
fi
mkdir -p "$work"
cp "$here/package.json" "$here/package-lock.json" "$here/validate.mjs" "$work/"
if [ ! -d "$work/node_modules/@apidevtools/swagger-parser" ]; then
  if ! (cd "$work" && npm ci --no-audit --no-fund --loglevel=error >npm.log 2>&1); then
    if grep -qE "ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT" "$work/npm.log"; then
      echo "SKIPPED: the npm registry is not reachable"; cat "$work/npm.log"; exit 77
    fi
    cat "$work/npm.log"; exit 1
  fi
fi
"$gen" --operation-ids >"$work/operation_ids.txt"
node "$work/validate.mjs" "$doc" "$work/operation_ids.txt"
