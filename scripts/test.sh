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
npx --no-install vitest run "$@"
