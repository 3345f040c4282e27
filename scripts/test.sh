#!/usr/bin/env bash
# Runs the whole test suite against a throwaway PostgreSQL that this script starts and stops.
# Set GOVLEDGER_PG (an Npgsql connection string without Database) to use an existing server instead.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=lib/postgres.sh
. scripts/lib/postgres.sh

if [ -z "${GOVLEDGER_PG:-}" ]; then
  scratch=$(mktemp -d /tmp/govledger-test.XXXXXX)
  [ "$(id -u)" = 0 ] && chown postgres "$scratch"
  pg_port=${GOVLEDGER_TEST_PG_PORT:-55433}
  cleanup() { pg_stop "$scratch/data"; rm -rf "$scratch"; }
  trap cleanup EXIT
  PG_FSYNC=off pg_start "$scratch/data" "$pg_port"
  export GOVLEDGER_PG="Host=127.0.0.1;Port=$pg_port;Username=postgres"
fi

dotnet build GovernanceLedger.sln -c Release --nologo -v quiet
dotnet test GovernanceLedger.sln -c Release --no-build --nologo --logger "console;verbosity=normal" "$@"
