#!/bin/sh
# The postgres service of the offline-built stack (docker-compose.offline.yml): Debian's
# PostgreSQL in the tensorjudge image, configured from the same variables as the registry's
# postgres image (POSTGRES_DB, POSTGRES_USER, POSTGRES_PASSWORD, PGDATA).
set -eu
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}"
DB="${POSTGRES_DB:-tensorjudge}"
USER_NAME="${POSTGRES_USER:-tensorjudge}"
PGDATA="${PGDATA:-/var/lib/postgresql/data}"
BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }

mkdir -p "$PGDATA" /run/postgresql
chown postgres:postgres "$PGDATA" /run/postgresql
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile="$(mktemp)"
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  chown postgres "$pwfile"
  as_postgres "$BIN/initdb" -D "$PGDATA" -U "$USER_NAME" --pwfile="$pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  if [ "$DB" != "postgres" ]; then
    echo "CREATE DATABASE \"$DB\" OWNER \"$USER_NAME\";" |
      as_postgres "$BIN/postgres" --single -D "$PGDATA" -j postgres >/dev/null
  fi
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups \
  "$BIN/postgres" -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/run/postgresql
