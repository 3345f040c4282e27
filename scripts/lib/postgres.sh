# Shared PostgreSQL helpers for run.sh and test.sh (sourced, not executed).
# A local server is started only when no connection is given in the environment.

pg_bin_dir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$dir" ] || [ ! -x "$dir/initdb" ]; then
    echo "PostgreSQL server binaries not found; installing them with apt-get" >&2
    if [ "$(id -u)" != 0 ]; then
      echo "error: not root, cannot install PostgreSQL; install the 'postgresql' package or set GOVLEDGER_PG" >&2
      return 1
    fi
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2 || return 1
    dir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  echo "$dir"
}

# Run a PostgreSQL tool as the postgres OS user when we are root (initdb refuses root).
as_pg_user() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# pg_start DATA_DIR PORT: initialise (first time) and start a server listening on 127.0.0.1:PORT.
# TCP logins need a password (scram-sha-256), so a role's password and VALID UNTIL mean something;
# the superuser's password is generated once and kept beside the data directory (DATA_DIR.password,
# readable by its owner only). Local socket logins are peer-authenticated (the postgres OS user).
pg_start() {
  local data="$1" port="$2" bin password_file="$1.password"
  bin=$(pg_bin_dir) || return 1
  mkdir -p "$data"
  if [ "$(id -u)" = 0 ]; then chown postgres "$data"; fi
  if [ ! -s "$password_file" ]; then
    (umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=\n' > "$password_file")
  fi
  PG_INITIALIZED=0
  if [ ! -f "$data/PG_VERSION" ]; then
    PG_INITIALIZED=1
    as_pg_user "$bin/initdb" -D "$data" -A trust -U postgres --encoding=UTF8 --locale=C.UTF-8 >"$data.initdb.log" 2>&1 \
      || { echo "error: initdb failed, see $data.initdb.log" >&2; cat "$data.initdb.log" >&2; return 1; }
  fi
  # Written on every start, so a data directory made by an older script loses its trust lines too.
  cat > "$data/pg_hba.conf" <<'HBA'
local   all             all                                     peer
local   replication     all                                     peer
host    all             all             127.0.0.1/32            scram-sha-256
host    all             all             ::1/128                 scram-sha-256
host    replication     all             127.0.0.1/32            scram-sha-256
host    replication     all             ::1/128                 scram-sha-256
HBA
  if [ "$(id -u)" = 0 ]; then chown postgres "$data/pg_hba.conf"; fi
  if as_pg_user "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    echo "PostgreSQL already running on port $port (data: $data)" >&2
    as_pg_user "$bin/pg_ctl" -D "$data" reload >/dev/null 2>&1 || true
  else
    as_pg_user "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 \
      -o "-p $port -k /tmp -c listen_addresses=127.0.0.1 -c wal_level=logical -c max_connections=300 -c fsync=${PG_FSYNC:-on} -c password_encryption=scram-sha-256 ${PG_EXTRA_OPTIONS:-}" start >&2 \
      || { echo "error: PostgreSQL did not start, log follows" >&2; cat "$data/server.log" >&2; return 1; }
  fi
  as_pg_user "$bin/psql" -h /tmp -p "$port" -U postgres -d postgres -qAt -v ON_ERROR_STOP=1 \
    -c "alter role postgres password '$(cat "$password_file")'" >/dev/null \
    || { echo "error: could not set the postgres password" >&2; return 1; }
  PG_PASSWORD=$(cat "$password_file")
}

pg_stop() {
  local data="$1" bin
  bin=$(pg_bin_dir) || return 1
  as_pg_user "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
}

# pg_throwaway NAME PORT: unless GOVLEDGER_PG is set, start a scratch server that is stopped and
# removed when the calling script exits, and export GOVLEDGER_PG for it.
pg_throwaway() {
  local name="$1" port="$2"
  [ -n "${GOVLEDGER_PG:-}" ] && return 0
  PG_SCRATCH=$(mktemp -d "/tmp/govledger-$name.XXXXXX")
  [ "$(id -u)" = 0 ] && chown postgres "$PG_SCRATCH"
  trap 'pg_stop "$PG_SCRATCH/data"; rm -rf "$PG_SCRATCH"' EXIT
  PG_FSYNC=${PG_FSYNC:-on} pg_start "$PG_SCRATCH/data" "$port" || return 1
  export GOVLEDGER_PG="Host=127.0.0.1;Port=$port;Username=postgres;Password=$PG_PASSWORD"
}
