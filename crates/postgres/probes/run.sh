#!/usr/bin/env bash
# Transition shapes on PostgreSQL, measured with pgbench against a private cluster (fsync on):
# the floor (BEGIN; INSERT; COMMIT), one retry_safe step recorded by one PL/pgSQL function
# call (func.sql), and the same step as ten statements in a transaction (stmts.sql, the SQLite
# store's shape). Sequential latency, then 8 clients. Usage: bash crates/postgres/probes/run.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
dir="$(mktemp -d /tmp/waymark-pg-probe-XXXX)"
chmod 755 "$dir"
mkdir "$dir/data" "$dir/sock"
cp "$here"/*.sql "$dir/"
chmod 644 "$dir"/*.sql
as=()
if [ "$(id -u)" -eq 0 ]; then
    chown postgres:postgres "$dir/data" "$dir/sock"
    as=(runuser -u postgres --)
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() { (cd "$dir" && "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1) || true; rm -rf "$dir"; }
trap cleanup EXIT
cd "$dir"
"${as[@]}" "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale >/dev/null
"${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/data/log" -w \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir/sock" start >/dev/null
"${as[@]}" "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -q -v ON_ERROR_STOP=1 -f "$dir/setup.sql"
bench() { "${as[@]}" "$bin/pgbench" -h 127.0.0.1 -p "$port" -U postgres -n -M prepared "$@" postgres 2>&1; }
for shape in floor func stmts; do
    echo "$shape: $(bench -f "$dir/$shape.sql" -t 2000 | grep 'latency average')"
done
for shape in floor func stmts; do
    echo "$shape, 8 clients: $(bench -c 8 -j 2 -f "$dir/$shape.sql" -t 500 | grep '^tps')"
done
echo "events numbered (count, max, distinct): $("${as[@]}" "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -Atc 'select count(*), max(global_seq), count(distinct global_seq) from events')"
