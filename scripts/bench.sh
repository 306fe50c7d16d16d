#!/usr/bin/env bash
# `npm run bench`: every benchmark script, each printing its figures as ratios against a
# baseline measured in the same run (these machines are noisy; absolute times mean little).
set -euo pipefail
cd "$(dirname "$0")/.."
# The SDK's notice about its future Node 22 requirement is not a figure.
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
if [ ! -d node_modules ]; then npm ci --no-audit --no-fund; fi
node scripts/aws-emulators.mjs install
npm run --silent build
for bench in scripts/bench-*.mjs; do
  echo "== $bench"
  node "$bench"
  echo
done
