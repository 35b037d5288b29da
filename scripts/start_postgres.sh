#!/usr/bin/env bash
# Start a throw-away PostgreSQL server for `xlstm-ts tune --storage postgresql://...` (tests, a
# quick multi-machine trial, CI) and print its URL. Needs the server binaries (Debian/Ubuntu:
# apt-get install -y postgresql); run as root it starts the server as the `postgres` user,
# since initdb refuses root.
#
#   scripts/start_postgres.sh [DATADIR] [PORT]   -> prints postgresql://postgres@127.0.0.1:PORT/optuna
#   scripts/start_postgres.sh stop [DATADIR]
#
# The server trusts local connections on 127.0.0.1 only (no password): for a shared server
# across machines, use a managed PostgreSQL with a password and listen_addresses set instead.
set -euo pipefail

if [ "${1:-}" = "stop" ]; then
  mode=stop; shift
else
  mode=start
fi
DATADIR=${1:-/tmp/xlstm-ts-postgres}
PORT=${2:-55432}
DB=${XLSTM_TS_PG_DB:-optuna}

bindir=${XLSTM_TS_PG_BINDIR:-}
if [ -z "$bindir" ]; then
  if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
    bindir=$(dirname "$(readlink -f "$(command -v pg_ctl)")")
  else
    bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  fi
fi
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  echo "no PostgreSQL server binaries found: apt-get install -y postgresql (or set XLSTM_TS_PG_BINDIR)" >&2
  exit 3
fi

as_pg() {
  if [ "$(id -u)" = 0 ]; then
    if command -v runuser >/dev/null 2>&1; then runuser -u postgres -- "$@"; else su postgres -s /bin/sh -c "$(printf '%q ' "$@")"; fi
  else
    "$@"
  fi
}

if [ "$mode" = stop ]; then
  as_pg "$bindir/pg_ctl" -D "$DATADIR/data" -m fast -w stop
  exit 0
fi

mkdir -p "$DATADIR"
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || { echo "running as root but there is no 'postgres' user" >&2; exit 3; }
  chown postgres:postgres "$DATADIR"
fi
if [ ! -f "$DATADIR/data/PG_VERSION" ]; then
  as_pg "$bindir/initdb" -D "$DATADIR/data" -U postgres --auth=trust -E UTF8 >"$DATADIR/initdb.log" 2>&1 \
    || { cat "$DATADIR/initdb.log" >&2; exit 1; }
fi
if ! as_pg "$bindir/pg_ctl" -D "$DATADIR/data" status >/dev/null 2>&1; then
  as_pg "$bindir/pg_ctl" -D "$DATADIR/data" -l "$DATADIR/server.log" -w -t 60 \
    -o "-p $PORT -k $DATADIR -c listen_addresses=127.0.0.1" start >/dev/null \
    || { tail -n 20 "$DATADIR/server.log" >&2; exit 1; }
fi
if ! as_pg "$bindir/psql" -h 127.0.0.1 -p "$PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$DB'" | grep -q 1; then
  as_pg "$bindir/createdb" -h 127.0.0.1 -p "$PORT" -U postgres "$DB"
fi
echo "postgresql://postgres@127.0.0.1:$PORT/$DB"
