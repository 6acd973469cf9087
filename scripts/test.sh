#!/usr/bin/env bash
# `npm test`: installs what the tests need (idempotent), then type-checks, lints and runs
# every test against the real servers. Extra arguments go to vitest (e.g. a file filter).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Missing, or older than the lock file (a pull added a package): install.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "test: installing npm dependencies" >&2
  npm install --no-audit --no-fund
fi
bash scripts/install-servers.sh >/dev/null

echo "test: type-check" >&2
npx --no-install tsc -p tsconfig.json --noEmit
echo "test: lint" >&2
npx --no-install eslint .
echo "test: vitest" >&2
# Vitest's own summary is in colour and in a shape CI does not read; its JSON report gives the
# counts for one plain closing line, `tests: N passed, N failed, N skipped`, printed last.
report="$(mktemp -d)/vitest.json"
status=0
npx --no-install vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
if [[ -s "$report" ]]; then
  node -e '
    const r = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
    const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
    console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
  ' "$report"
fi
rm -rf "$(dirname "$report")"
exit "$status"
