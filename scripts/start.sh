#!/usr/bin/env bash
# `npm start`: the whole of Baton on a local sandbox (see README, "The sandbox"). Installs what
# it needs on first use (npm packages; the Temporal CLI and moto into ~/.cache/baton), then
# hands over to src/sandbox/main.ts, which owns every process it starts and stops them on Ctrl-C.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Missing, or older than the lock file (a pull added a package): install.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "start: installing npm dependencies" >&2
  npm install --no-audit --no-fund
fi
bash scripts/install-servers.sh --no-java

# exec: the sandbox receives Ctrl-C itself and its exit code is npm start's.
# tsx's loader in-process (no tsx wrapper process between the terminal and the sandbox).
exec node --import tsx src/sandbox/main.ts "$@"
