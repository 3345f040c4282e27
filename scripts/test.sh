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
# shellcheck source=lib/chromium.sh
. scripts/lib/chromium.sh
# shellcheck source=lib/console-assets.sh
. scripts/lib/console-assets.sh

ensure_promtool
ensure_chromium
ensure_console_assets

PG_FSYNC=off pg_throwaway test "${GOVLEDGER_TEST_PG_PORT:-55433}"

dotnet build GovernanceLedger.sln -c Release --nologo -v quiet
log=$(mktemp /tmp/govledger-test-log.XXXXXX)
set +e
dotnet test GovernanceLedger.sln -c Release --no-build --nologo --logger "console;verbosity=normal" "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
  # The runner's own summary is above; repeat each failure and its message last, where a truncated log still shows them.
  echo
  echo "Failures (repeated from above):"
  awk '/^  Failed /{on=1; n=0} /^  (Passed|Skipped) /{on=0} on && n<40 {print; n++}' "$log"
fi
rm -f "$log"
exit "$status"
