#!/usr/bin/env bash
# `npm test`: system packages, type check, lint, format check, then every Jest suite
# (unit tests, and integration tests that start their own registry, serverless offline, kubectl).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/ensure-system-deps.sh

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 22 ]; then
  echo "npm test: Node $node_major found; run through npm (node_modules/.bin/node is Node 22) after npm ci" >&2
  exit 1
fi

node scripts/build-cli.mjs
echo "--- tsc"
tsc --noEmit -p .
echo "--- eslint"
eslint .
echo "--- prettier"
prettier --check . --log-level warn
echo "--- jest"
results=$(mktemp)
status=0
jest --ci --json --outputFile="$results" "$@" || status=$?
node -e '
  const r = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (r.numPendingTests ? `, ${r.numPendingTests} skipped` : ""));
' "$results" || true
rm -f "$results"
exit "$status"
