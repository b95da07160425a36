#!/usr/bin/env bash
# Start a throwaway PostgreSQL server for the tests and print the shell lines that point
# the tests at it:
#
#   pg_env=$(bash scripts/start-postgres.sh) && eval "$pg_env"
#   ...                                  # tests read ALLOCATOR_TEST_POSTGRES_URL
#   bash scripts/stop-postgres.sh "$ALLOCATOR_TEST_POSTGRES_DIR"
#
# The test suite runs it itself (tests/stores.py, with --no-install) wherever the server
# binaries are installed; by hand it is needed only to keep one server for several runs.
# Installs Debian's postgresql package when no server binaries are found (as root, unless
# --no-install: then it exits 3), makes
# a new cluster in a temporary folder (trust authentication, listening on 127.0.0.1 only,
# on a free port, fsync off: test data only), starts it, creates a database, and prints
# `export ALLOCATOR_TEST_POSTGRES_URL=postgresql://...` and
# `export ALLOCATOR_TEST_POSTGRES_DIR=...`. Everything else goes to stderr.
# PostgreSQL refuses to run as root: as root the cluster runs as the `postgres` user.
set -euo pipefail

install=yes
[[ "${1:-}" == "--no-install" ]] && install=no

find_bin() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

bin=$(find_bin)
if [[ -z "$bin" || ! -x "$bin/initdb" ]]; then
    if [[ $install == no ]]; then
        echo "start-postgres: no PostgreSQL server found; install it: apt-get install postgresql" >&2
        exit 3
    fi
    if [[ $(id -u) -ne 0 ]]; then
        echo "start-postgres: no PostgreSQL server found; install it: apt-get install postgresql" >&2
        exit 1
    fi
    echo "start-postgres: installing postgresql from Debian's packages" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    bin=$(find_bin)
fi

run_as=()
if [[ $(id -u) -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql postgres
    run_as=(runuser -u postgres --)
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/allocator-pg.XXXXXX")
chmod 0755 "$dir"
[[ $(id -u) -eq 0 ]] && chown postgres "$dir"

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
user=allocator
database=allocator_test

"${run_as[@]}" "$bin/initdb" --pgdata "$dir/data" --username "$user" --auth trust \
    --encoding UTF8 --no-sync >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
"${run_as[@]}" "$bin/pg_ctl" --pgdata "$dir/data" --log "$dir/server.log" --wait --timeout 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c full_page_writes=off" \
    start >&2 || { cat "$dir/server.log" >&2; exit 1; }
"${run_as[@]}" "$bin/createdb" --host 127.0.0.1 --port "$port" --username "$user" "$database" >&2

echo "start-postgres: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port, data in $dir" >&2
echo "export ALLOCATOR_TEST_POSTGRES_URL=postgresql://$user@127.0.0.1:$port/$database"
echo "export ALLOCATOR_TEST_POSTGRES_DIR=$dir"
