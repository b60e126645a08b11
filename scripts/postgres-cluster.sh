#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests, on 127.0.0.1 and a free port, in a temp dir.
#
#   source scripts/postgres-cluster.sh && postgres_cluster_start   # exports KILN_TEST_POSTGRES_URL
#   postgres_cluster_stop                                           # stops it and removes its dir
#
# or by hand: `eval "$(scripts/postgres-cluster.sh start)"`, later `scripts/postgres-cluster.sh stop DIR`.
# PostgreSQL refuses to run as root, so the cluster belongs to an unprivileged system user
# (kiln-pg, created when missing). It trusts every local connection and keeps no data worth
# an fsync: it is thrown away afterwards.

KILN_PG_USER="${KILN_PG_USER:-kiln-pg}"

# Puts initdb and pg_ctl on PATH, installing the server from Debian's packages when missing.
postgres_cluster_find_binaries() {
  if ! command -v initdb >/dev/null || ! command -v pg_ctl >/dev/null; then
    local bin
    bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    if [ -z "$bin" ]; then
      echo "installing: postgresql" >&2
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
      bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
    fi
    PATH="$bin:$PATH"
  fi
}

# Runs a command as the cluster's user (or as ourselves when we are not root).
postgres_cluster_as_user() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "$KILN_PG_USER" -- env PATH="$PATH" "$@"
  else
    "$@"
  fi
}

# A TCP port nothing listens on now.
postgres_cluster_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

postgres_cluster_start() {
  postgres_cluster_find_binaries
  local user="$KILN_PG_USER"
  if [ "$(id -u)" -eq 0 ]; then
    id "$KILN_PG_USER" >/dev/null 2>&1 ||
      useradd --system --no-create-home --shell /usr/sbin/nologin "$KILN_PG_USER"
  else
    user="$(id -un)"
  fi
  KILN_PG_DIR="$(mktemp -d -t kiln-pg.XXXXXX)"
  chmod 755 "$KILN_PG_DIR"
  [ "$(id -u)" -eq 0 ] && chown "$KILN_PG_USER" "$KILN_PG_DIR"
  postgres_cluster_as_user initdb --pgdata="$KILN_PG_DIR/data" --username="$user" \
    --auth=trust --encoding=UTF8 --no-locale >"$KILN_PG_DIR/initdb.log" 2>&1 || {
    cat "$KILN_PG_DIR/initdb.log" >&2
    return 1
  }
  local port
  port="$(postgres_cluster_free_port)"
  # Tests create a database each and run in parallel: room for their pools.
  postgres_cluster_as_user pg_ctl --pgdata="$KILN_PG_DIR/data" --log="$KILN_PG_DIR/server.log" \
    --wait --silent start \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$KILN_PG_DIR \
        -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" || {
    cat "$KILN_PG_DIR/server.log" >&2
    return 1
  }
  export KILN_PG_DIR
  export KILN_TEST_POSTGRES_URL="postgres://$user@127.0.0.1:$port/postgres"
  echo "PostgreSQL test cluster: $KILN_TEST_POSTGRES_URL (in $KILN_PG_DIR)" >&2
}

postgres_cluster_stop() {
  local dir="${1:-${KILN_PG_DIR:-}}"
  [ -n "$dir" ] && [ -d "$dir/data" ] || return 0
  postgres_cluster_find_binaries
  postgres_cluster_as_user pg_ctl --pgdata="$dir/data" --mode=immediate --wait --silent stop || true
  rm -rf "$dir"
}

# Run as a command rather than sourced: `start` prints the variables to export.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  case "${1:-}" in
    start)
      postgres_cluster_start
      echo "export KILN_PG_DIR=$KILN_PG_DIR KILN_TEST_POSTGRES_URL=$KILN_TEST_POSTGRES_URL"
      ;;
    stop) postgres_cluster_stop "${2:-}" ;;
    *)
      echo "usage: $0 start | stop DIR" >&2
      exit 2
      ;;
  esac
fi
