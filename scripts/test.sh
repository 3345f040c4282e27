#!/usr/bin/env bash
# Runs the whole test suite against a throwaway PostgreSQL that this script starts and stops.
# Set GOVLEDGER_PG (an Npgsql connection string without Database) to use an existing server instead.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=lib/postgres.sh
. scripts/lib/postgres.sh
# shellcheck source=lib/promtool.sh
. scripts/lib/promtool.sh

ensure_promtool

PG_FSYNC=off pg_throwaway test "${GOVLEDGER_TEST_PG_PORT:-55433}"

dotnet build GovernanceLedger.sln -c Release --nologo -v quiet
dotnet test GovernanceLedger.sln -c Release --no-build --nologo --logger "console;verbosity=normal" "$@"
