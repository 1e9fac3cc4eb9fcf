"""DBOS Transact beside Waymark: per-step and per-workflow cost with its SQLite system database.

Usage: python3 dbos_bench.py SCRATCH_DIR  -> one JSON line on stdout, notes on stderr.
       python3 dbos_bench.py --postgres URL  -> the step alone, on that PostgreSQL server
                                               (beside Waymark's team backend).
"""

import json
import os
import sqlite3
import sys

from dbos import DBOS, DBOSConfig

from timing import measure


def note(msg):
    print(f"dbos: {msg}", file=sys.stderr, flush=True)


@DBOS.step()
def noop_step():
    return None


@DBOS.workflow()
def steps_workflow(n):
    for _ in range(n):
        noop_step()
    return n


@DBOS.workflow()
def one_step_workflow():
    noop_step()
    return 1


def sqlite_settings():
    """Journal mode and synchronous level of a connection from DBOS's own engine: DBOS sets
    neither, so they are SQLite's defaults (rollback journal, synchronous=FULL: fsync per commit)."""
    from dbos._dbos import _get_dbos_instance

    engine = _get_dbos_instance()._sys_db.engine
    with engine.connect() as conn:
        jm = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
        sync = conn.exec_driver_sql("PRAGMA synchronous").scalar()
    return f"journal_mode={jm}, synchronous={ {0: 'OFF', 1: 'NORMAL', 2: 'FULL', 3: 'EXTRA'}[sync] }"


def step_us():
    """A no-op step inside a workflow, in µs."""
    # Calling a workflow function runs it to completion in this thread, checkpointing
    # its start, each step's output and its end in the system database.
    def steps(n):
        assert steps_workflow(n) == n

    us, n, walls = measure(steps, 50)
    note(f"workflow of {n} steps: {us:.1f} µs/step (walls {', '.join(f'{w:.2f}' for w in walls)} s)")
    return us


def postgres(url):
    config: DBOSConfig = {
        "name": "waymark-peer-bench-pg",
        "system_database_url": url,
        "log_level": "WARNING",
    }
    DBOS(config=config)
    DBOS.launch()
    try:
        us = step_us()
    finally:
        DBOS.destroy()
    print(json.dumps({"pg_dbos_step_us": round(us, 1)}))


def main():
    if sys.argv[1] == "--postgres":
        postgres(sys.argv[2])
        return
    scratch = sys.argv[1]
    os.makedirs(scratch, exist_ok=True)
    config: DBOSConfig = {
        "name": "waymark-peer-bench",
        "system_database_url": "sqlite:///" + os.path.abspath(os.path.join(scratch, "dbos.sqlite")),
        "log_level": "WARNING",
    }
    DBOS(config=config)
    DBOS.launch()
    try:
        note(f"system database {sqlite_settings()}, SQLite {sqlite3.sqlite_version}")

        one_step_us = step_us()

        def runs(n):
            for _ in range(n):
                assert one_step_workflow() == 1

        run_us, n, walls = measure(runs, 20)
        note(f"{n} one-step workflows: {run_us:.1f} µs/workflow (walls {', '.join(f'{w:.2f}' for w in walls)} s)")
    finally:
        DBOS.destroy()
    print(json.dumps({
        "peer_dbos_step_us": round(one_step_us, 1),
        "peer_dbos_run_us": round(run_us, 1),
    }))


if __name__ == "__main__":
    main()
