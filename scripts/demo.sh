#!/usr/bin/env bash
# `npm run demo`: install, build, start the local AWS emulators, and run the key-lifecycle drill
# in a temporary directory, printing what a person would see. The journal stays for inspection.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "== installing dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund
fi
node scripts/aws-emulators.mjs install
npm run --silent build
exec node scripts/demo.mjs "$@"
