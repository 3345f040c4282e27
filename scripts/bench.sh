#!/usr/bin/env bash
# Runs the benchmarks against a throwaway PostgreSQL and prints throughput ratios.
# Extra arguments go to BenchmarkDotNet (for example --filter '*Register*').
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
. scripts/lib/postgres.sh

pg_throwaway bench "${GOVLEDGER_BENCH_PG_PORT:-55434}"

# ./scripts/bench.sh            control-plane micro benchmarks (BenchmarkDotNet)
# ./scripts/bench.sh dataplane  gateway vs bare YARP, proxied vs direct queries (optional seconds per measurement)
# ./scripts/bench.sh audit [events]  the read side at one million events (or the number given)
# ./scripts/bench.sh streaming [rows]  CDC rows/s, Avro-through-registry vs raw produce, audit-stream lag at 5,000 events/s
# ./scripts/bench.sh warehouse [customers]  curated export rows/s, and a warehouse query proxied vs direct (1,000,000 customers)
# ./scripts/bench.sh expensive [events]  200 parallel verifies: 200s and 429s, never 500s; /health and gateway p99 idle vs during
if [ "${1:-}" = "dataplane" ] || [ "${1:-}" = "appendprobe" ] || [ "${1:-}" = "audit" ] || [ "${1:-}" = "streaming" ] || [ "${1:-}" = "expensive" ] || [ "${1:-}" = "detection" ] || [ "${1:-}" = "warehouse" ]; then
  dotnet run --project tests/GovernanceLedger.Benchmarks -c Release -- "$@"
else
  dotnet run --project tests/GovernanceLedger.Benchmarks -c Release -- --filter '*' "$@"
fi
