"""DBOS Transact beside Waymark on the same PostgreSQL server: the cost of one step.

Usage: python3 dbos_pg_bench.py POSTGRES_URL  -> one JSON line on stdout, notes on stderr.
"""

import json
import sys

from dbos import DBOS, DBOSConfig

from timing import measure


def note(msg):
    print(f"dbos-pg: {msg}", file=sys.stderr, flush=True)


@DBOS.step()
def noop_step():
    return None


@DBOS.workflow()
def steps_workflow(n):
    for _ in range(n):
        noop_step()
    return n


def main():
    url = sys.argv[1]
    config: DBOSConfig = {
        "name": "waymark-peer-bench-pg",
        "system_database_url": url,
        "log_level": "WARNING",
    }
    DBOS(config=config)
    DBOS.launch()
    try:
        # A workflow runs to completion in this thread, checkpointing each step's output in
        # the system database on the server.
        def steps(n):
            assert steps_workflow(n) == n

        step_us, n, walls = measure(steps, 50)
        note(f"workflow of {n} steps: {step_us:.1f} µs/step (walls {', '.join(f'{w:.2f}' for w in walls)} s)")
    finally:
        DBOS.destroy()
    print(json.dumps({"pg_dbos_step_us": round(step_us, 1)}))


if __name__ == "__main__":
    main()
