#!/usr/bin/env bash
# Stop a server started by scripts/start-postgres.sh and delete its folder:
#   bash scripts/stop-postgres.sh "$ALLOCATOR_TEST_POSTGRES_DIR"
set -euo pipefail
dir=${1:?usage: stop-postgres.sh DIR (the ALLOCATOR_TEST_POSTGRES_DIR printed at start)}
[[ -d "$dir/data" ]] || { echo "stop-postgres: no cluster in $dir" >&2; exit 1; }
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
run_as=()
[[ $(id -u) -eq 0 ]] && run_as=(runuser -u postgres --)
"${run_as[@]}" "$bin/pg_ctl" --pgdata "$dir/data" --mode fast --wait stop >&2 || true
rm -rf "$dir"
