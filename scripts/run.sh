#!/usr/bin/env bash
# Runs GovernanceLedger on its embedded default: a local PostgreSQL started by this script,
# the ledger and the demo source database `salesdb` created and seeded, the host on 127.0.0.1:5080.
# Set GOVLEDGER_PG (an Npgsql connection string without Database) to use an existing server instead.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=lib/postgres.sh
. scripts/lib/postgres.sh
# shellcheck source=lib/console-assets.sh
. scripts/lib/console-assets.sh

address=${GOVLEDGER_ADDRESS:-127.0.0.1}
port=${GOVLEDGER_PORT:-5080}
pg_port=${GOVLEDGER_PG_PORT:-55432}
pg_data=${GOVLEDGER_PGDATA:-/var/tmp/govledger/pgdata}

if [ -z "${GOVLEDGER_PG:-}" ]; then
  mkdir -p "$(dirname "$pg_data")"
  [ "$(id -u)" = 0 ] && chown postgres "$(dirname "$pg_data")"
  pg_start "$pg_data" "$pg_port"
  GOVLEDGER_PG="Host=127.0.0.1;Port=$pg_port;Username=postgres;Password=$PG_PASSWORD"
  echo "PostgreSQL: 127.0.0.1:$pg_port (data in $pg_data; stop it with: pg_ctl -D $pg_data stop)"
else
  echo "PostgreSQL: using GOVLEDGER_PG from the environment"
fi

base="http://$address:$port"
# Prometheus scrapes /metrics with this bearer token; it is made once and kept beside the data.
scrape_file=${GOVLEDGER_SCRAPE_TOKEN_FILE:-/var/tmp/govledger/scrape-token}
mkdir -p "$(dirname "$scrape_file")"
[ -s "$scrape_file" ] || (umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=\n' > "$scrape_file")
export Metrics__ScrapeToken=${Metrics__ScrapeToken:-$(cat "$scrape_file")}
# The salt of masked PII hashes and of warehouse columns computed from PII: made once and kept, so they stay the same across restarts.
salt_file=${GOVLEDGER_MASKING_SALT_FILE:-/var/tmp/govledger/masking-salt}
[ -s "$salt_file" ] || (umask 077; head -c 48 /dev/urandom | base64 | tr -d '/+=\n' > "$salt_file")
export DataProxy__MaskingSalt=${DataProxy__MaskingSalt:-$(cat "$salt_file")}
cat <<TXT

GovernanceLedger is starting on $base (Development: demo data and a development token issuer).
Try next, in another shell:
  TOKEN=\$(curl -s -X POST $base/dev/tokens -H 'content-type: application/json' \\
      -d '{"sub":"sales_ops@example.com","roles":["app-owner"]}' | sed 's/.*"access_token":"\\([^"]*\\)".*/\\1/')
  curl -s -X POST $base/apps -H "authorization: Bearer \$TOKEN" -H 'content-type: application/json' \\
      -d '{"app_id":"my-first-app","owner":"sales_ops@example.com","scopes":["read:contacts"],"connectors":["postgres:salesdb"],"data_retention_days":30}'
  curl -s $base/apps/my-first-app -H "authorization: Bearer \$TOKEN"
  curl -s -X POST $base/apps/my-first-app/tokens -H "authorization: Bearer \$TOKEN"
  API reference: $base/scalar   OpenAPI: $base/openapi/v1.json   Policies: $base/policies
  Metrics: curl -s $base/metrics -H "authorization: Bearer \$(cat $scrape_file)"

TXT

export ASPNETCORE_ENVIRONMENT=${ASPNETCORE_ENVIRONMENT:-Development}
export ConnectionStrings__Ledger="$GOVLEDGER_PG;Database=${GOVLEDGER_DB:-governance_ledger}"
export ConnectionStrings__SalesDb="$GOVLEDGER_PG;Database=salesdb"
export Demo__Seed=${Demo__Seed:-true}
# Kafka: embedded (librdkafka's in-memory mock cluster, not durable) unless a cluster is given.
if [ -n "${GOVLEDGER_KAFKA:-}" ]; then
  export Kafka__Mode=cluster Kafka__BootstrapServers="$GOVLEDGER_KAFKA"
else
  export Kafka__Mode=${Kafka__Mode:-embedded}
fi
export Kafka__SchemaRegistryUrl=${Kafka__SchemaRegistryUrl:-$base/registry}
# Private keys never live in the ledger database: they sit in this directory, sealed with
# GOVLEDGER_KEY_SECRET (Development generates one beside the keys when it is unset, with a warning).
# Every signed checkpoint is also written, one fsync'd file each, to the witness directory. A witness
# belongs to one ledger database: wiping the database but not its witness reads as a truncation.
ledger_db=${GOVLEDGER_DB:-governance_ledger}
export Keys__Directory=${Keys__Directory:-/var/tmp/govledger/keys/$ledger_db}
export Audit__WitnessDirectory=${Audit__WitnessDirectory:-/var/tmp/govledger/witness/$ledger_db}
# Notices to app owners and security (throttles, pauses) land here as .eml files an SMTP relay could pick up.
export Notifications__MailDirectory=${Notifications__MailDirectory:-/var/tmp/govledger/mail}
# Retired apps' timelines are archived here (NDJSON, a manifest of hashes and its signature).
export Archive__Directory=${Archive__Directory:-/var/tmp/govledger/archive/$ledger_db}
# Access events are flushed to a journal on this machine before each response and appended to the
# ledger every 50 ms in one transaction (DataPlane:Journal); a start appends what the last run left.
export DataPlane__Journal=${DataPlane__Journal:-/var/tmp/govledger/journal/$ledger_db}
# A witness belongs to the database it watched. When this script has just created a new database
# cluster, the witness left by the one before it (deleted, or a machine rebuilt) watched a ledger that
# no longer exists: it is set aside, kept and named, rather than read as this ledger's truncation.
if [ "${PG_INITIALIZED:-0}" = 1 ] && [ -n "$(ls -A "$Audit__WitnessDirectory" 2>/dev/null)" ]; then
  previous="$Audit__WitnessDirectory.previous-cluster-$(date -u +%Y%m%dT%H%M%SZ)"
  mv "$Audit__WitnessDirectory" "$previous"
  echo "NOTICE: $pg_data was created just now, so the witness of the database before it was moved to $previous"
fi
# So is a journal: records left for a database that no longer exists are set aside, not appended to the new one.
if [ "${PG_INITIALIZED:-0}" = 1 ] && [ -n "$(ls -A "$DataPlane__Journal" 2>/dev/null)" ]; then
  previous="$DataPlane__Journal.previous-cluster-$(date -u +%Y%m%dT%H%M%SZ)"
  mv "$DataPlane__Journal" "$previous"
  echo "NOTICE: $pg_data was created just now, so the access journal left for the database before it was moved to $previous"
fi
mkdir -p "$Keys__Directory" "$Audit__WitnessDirectory"
chmod 700 "$Keys__Directory"
echo "Keys: $Keys__Directory   Witness: $Audit__WitnessDirectory   Access journal: $DataPlane__Journal"
ensure_console_assets
exec dotnet run --project src/GovernanceLedger -c Release -- --urls "$base"
