#!/usr/bin/env bash
# Runs the benchmarks against a throwaway PostgreSQL and prints throughput ratios.
# Extra arguments go to BenchmarkDotNet (for example --filter '*Register*').
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
. scripts/lib/postgres.sh

# GOVLEDGER_BENCH_PGSS=1: the scratch server loads pg_stat_statements, and the dataplane benchmark prints the
# statements PostgreSQL spent its time on during the governed run.
if [ "${GOVLEDGER_BENCH_PGSS:-}" = 1 ]; then export PG_EXTRA_OPTIONS="-c shared_preload_libraries=pg_stat_statements"; fi
pg_throwaway bench "${GOVLEDGER_BENCH_PG_PORT:-55434}"

# ./scripts/bench.sh            control-plane micro benchmarks (BenchmarkDotNet)
# ./scripts/bench.sh dataplane  gateway vs bare YARP, proxied vs direct queries (optional seconds per measurement)
# ./scripts/bench.sh audit [events]  the read side at one million events (or the number given)
# ./scripts/bench.sh streaming [rows]  CDC rows/s, Avro-through-registry vs raw produce, audit-stream lag at 5,000 events/s
# ./scripts/bench.sh warehouse [customers]  curated export rows/s, and a warehouse query proxied vs direct (1,000,000 customers)
# ./scripts/bench.sh scaleout [seconds]  1, 2 and 3 ledger hosts behind HAProxy on one PostgreSQL: throughput, events for every served response, quotas held
# ./scripts/bench.sh expensive [events]  200 parallel verifies: 200s and 429s, never 500s; /health and gateway p99 idle vs during
if [ "${1:-}" = "dataplane" ] || [ "${1:-}" = "appendprobe" ] || [ "${1:-}" = "audit" ] || [ "${1:-}" = "streaming" ] || [ "${1:-}" = "expensive" ] || [ "${1:-}" = "detection" ] || [ "${1:-}" = "warehouse" ] || [ "${1:-}" = "scaleout" ]; then
  if [ "${1:-}" = "scaleout" ] && [ -z "${GOVLEDGER_HAPROXY:-}" ] && ! command -v haproxy >/dev/null 2>&1 && [ ! -x /usr/sbin/haproxy ]; then
    echo "haproxy not found; installing Debian's haproxy package with apt-get" >&2
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends haproxy >&2
  fi
  dotnet run --project tests/GovernanceLedger.Benchmarks -c Release -- "$@"
else
  dotnet run --project tests/GovernanceLedger.Benchmarks -c Release -- --filter '*' "$@"
fi
