#!/usr/bin/env bash
# The peers beside Waymark in `make bench`: LangGraph (SqliteSaver, durability "sync") and DBOS
# Transact (SQLite system database), measured by our own scripts in crates/bench/peers/ on the
# same file system as Waymark's bench (target/bench-tmp/). Writes target/bench/peers.json.
# The venv target/peers-venv is (re)installed from crates/bench/peers/requirements.txt only when
# that file is newer than the venv's stamp.
set -euo pipefail
cd "$(dirname "$0")/.."

peers=crates/bench/peers
req=$peers/requirements.txt
venv=target/peers-venv
stamp=$venv/.requirements-stamp

if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    bash scripts/setup-system.sh python3-venv
fi

if [ ! -f "$stamp" ] || [ "$req" -nt "$stamp" ]; then
    echo "bench-peers: installing $req into $venv"
    t0=$SECONDS
    rm -rf "$venv"
    python3 -m venv "$venv"
    if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"; then
        echo "bench-peers: ERROR: pip could not install $req into $venv (see pip's message above);" \
             "the peer figures (LangGraph, DBOS) are not measured" >&2
        exit 1
    fi
    touch "$stamp"
    echo "bench-peers: venv ready in $((SECONDS - t0)) s"
fi
py=$venv/bin/python
export PYTHONDONTWRITEBYTECODE=1  # no __pycache__ in the source tree

mkdir -p target/bench-tmp target/bench
scratch=$(mktemp -d target/bench-tmp/peers-XXXX)
trap 'rm -rf "$scratch"' EXIT

# Each script prints its figures as one JSON line, last on stdout; its notes go to stderr.
t0=$SECONDS
lg=$("$py" $peers/langgraph_bench.py "$scratch/langgraph" | tail -n 1)
dbos=$("$py" $peers/dbos_bench.py "$scratch/dbos" | tail -n 1)
echo "bench-peers: measured in $((SECONDS - t0)) s"

"$py" - "$lg" "$dbos" <<'EOF'
import json, sys
figures = {}
for line in sys.argv[1:]:
    figures.update(json.loads(line))
with open("target/bench/peers.json", "w") as f:
    json.dump(dict(sorted(figures.items())), f)
    f.write("\n")
rows = [
    ("LangGraph, SqliteSaver sync: one step", "peer_langgraph_step_us", "µs"),
    ("LangGraph: one-step run", "peer_langgraph_run_us", "µs"),
    ("DBOS, SQLite: one step", "peer_dbos_step_us", "µs"),
    ("DBOS: one-step workflow", "peer_dbos_run_us", "µs"),
    ("LangGraph: 200-step agent db growth", "peer_langgraph_200_db_growth_bytes", "bytes"),
    ("LangGraph: growth / unique content", "peer_langgraph_200_storage_ratio", "x"),
]
print("peers (target/bench/peers.json):")
for label, key, unit in rows:
    print(f"  {label:<40} {figures[key]:>12,} {unit}")
EOF
