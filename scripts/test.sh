#!/usr/bin/env bash
# `npm test`: install what is missing, type-check, lint, build, then run every test against real
# local servers (moto, the per-region KMS emulators and PostgreSQL, started by the test setup).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "== installing dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund
fi
echo "== AWS emulators (moto, local-kms)" >&2
node scripts/aws-emulators.mjs install
echo "== type-check" >&2
npx tsc --noEmit -p tsconfig.json
echo "== lint (eslint, then the import direction: dependency-cruiser)" >&2
npm run --silent lint
echo "== build" >&2
npm run --silent build
echo "== tests" >&2
npx vitest run "$@"
