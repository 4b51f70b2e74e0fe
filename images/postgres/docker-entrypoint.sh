#!/usr/bin/env bash
# The official postgres image's entrypoint contract, rewritten small: on an empty $PGDATA,
# initdb as $POSTGRES_USER with $POSTGRES_PASSWORD, create $POSTGRES_DB, run
# /docker-entrypoint-initdb.d/* (*.sh, *.sql, *.sql.gz) against a server listening on its unix
# socket only, then exec the real server listening on every address.
set -Eeuo pipefail

# `docker run postgres -c x=y` means `postgres -c x=y`, as upstream.
if [[ ${1:-} == -* ]]; then set -- postgres "$@"; fi

# POSTGRES_PASSWORD_FILE etc., as upstream: a secret mounted as a file.
for name in POSTGRES_USER POSTGRES_PASSWORD POSTGRES_DB POSTGRES_INITDB_ARGS; do
  file_var="${name}_FILE"
  if [[ -n ${!file_var:-} ]]; then export "$name"="$(<"${!file_var}")"; fi
done
export POSTGRES_USER=${POSTGRES_USER:-postgres}
export POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}
: "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"

psql_local() { psql -v ON_ERROR_STOP=1 --no-password --no-psqlrc --username "$POSTGRES_USER" "$@"; }

initialise() {
  if [[ -z ${POSTGRES_PASSWORD:-} && $POSTGRES_HOST_AUTH_METHOD != trust ]]; then
    echo "error: database is uninitialized and POSTGRES_PASSWORD is not set" >&2
    echo "  set POSTGRES_PASSWORD (or POSTGRES_HOST_AUTH_METHOD=trust, which allows anyone)" >&2
    exit 1
  fi
  mkdir -p "$PGDATA" && chmod 700 "$PGDATA"
  # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a list of arguments, as upstream.
  initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "${POSTGRES_PASSWORD:-}") \
    ${POSTGRES_INITDB_ARGS:-}
  printf '\nhost all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD" >>"$PGDATA/pg_hba.conf"
  # The temporary server: unix socket only, so nothing connects before the scripts ran.
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=/var/run/postgresql" \
    -w start
  if [[ $POSTGRES_DB != postgres ]]; then
    psql_local --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
  fi
  local script
  for script in /docker-entrypoint-initdb.d/*; do
    case $script in
      *.sh) echo "running $script"; if [[ -x $script ]]; then "$script"; else . "$script"; fi ;;
      *.sql) echo "running $script"; psql_local --dbname "$POSTGRES_DB" -f "$script" ;;
      *.sql.gz) echo "running $script"; gunzip -c "$script" | psql_local --dbname "$POSTGRES_DB" ;;
      *) if [[ -e $script ]]; then echo "ignoring $script"; fi ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop
  echo "PostgreSQL init process complete; ready for start up."
}

if [[ $1 == postgres ]]; then
  if [[ ! -s $PGDATA/PG_VERSION ]]; then initialise; fi
  shift
  exec postgres -c listen_addresses='*' -c unix_socket_directories=/var/run/postgresql "$@"
fi
exec "$@"
