"""LangGraph + SqliteSaver beside Waymark: per-step and one-step-run cost with durability "sync",
and the checkpoint database's growth for the storage bench's 200-step agent conversation.

Usage: python3 langgraph_bench.py SCRATCH_DIR  -> one JSON line on stdout, notes on stderr.
"""

import json
import os
import sqlite3
import sys
import time
import uuid
from typing import Annotated, TypedDict

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

import conversation
from timing import measure

def note(msg):
    print(f"langgraph: {msg}", file=sys.stderr, flush=True)


def saver(path):
    # As the docs show it: one connection to a file; the saver sets journal_mode=WAL and leaves
    # `synchronous` at SQLite's default (reported below), so each commit is fsynced.
    conn = sqlite3.connect(path, check_same_thread=False)
    s = SqliteSaver(conn)
    s.setup()
    return s


def sync_mode(conn):
    jm = conn.execute("PRAGMA journal_mode").fetchone()[0]
    sync = conn.execute("PRAGMA synchronous").fetchone()[0]
    return f"journal_mode={jm}, synchronous={ {0: 'OFF', 1: 'NORMAL', 2: 'FULL', 3: 'EXTRA'}[sync] }"


class Counter(TypedDict):
    i: int
    n: int


def loop_graph(checkpointer):
    # One no-op node that loops back to itself until the counter reaches n.
    g = StateGraph(Counter)
    g.add_node("step", lambda s: {"i": s["i"] + 1})
    g.add_edge(START, "step")
    g.add_conditional_edges("step", lambda s: "step" if s["i"] < s["n"] else END)
    return g.compile(checkpointer=checkpointer)


def one_step_graph(checkpointer):
    g = StateGraph(Counter)
    g.add_node("step", lambda s: {"i": s["i"] + 1})
    g.add_edge(START, "step")
    g.add_edge("step", END)
    return g.compile(checkpointer=checkpointer)


def config():
    return {"configurable": {"thread_id": uuid.uuid4().hex}}


def commit_floor(scratch):
    """µs per fsynced 256-byte commit (WAL, synchronous=FULL), as Waymark's floor_commit_us:
    says how busy the disk was while the peers ran."""
    path = os.path.join(scratch, "floor.db")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (x BLOB)")
    n = 300
    t = time.perf_counter()
    for _ in range(n):
        conn.execute("INSERT INTO t VALUES (?)", (b"x" * 256,))
    conn.close()
    return (time.perf_counter() - t) / n * 1e6


def bench_steps(scratch):
    s = saver(os.path.join(scratch, "lg-steps.db"))
    note(f"SqliteSaver {sync_mode(s.conn)}, SQLite {sqlite3.sqlite_version}")
    graph = loop_graph(s)

    def once(n):
        # A fresh thread per repetition: every step writes its checkpoint before the next runs.
        cfg = config() | {"recursion_limit": n + 10}
        out = graph.invoke({"i": 0, "n": n}, cfg, durability="sync")
        assert out["i"] == n, out

    us, n, walls = measure(once, 50)
    note(f"loop of {n} steps: {us:.1f} µs/step (walls {', '.join(f'{w:.2f}' for w in walls)} s)")
    s.conn.close()
    return us


def bench_runs(scratch):
    s = saver(os.path.join(scratch, "lg-runs.db"))
    graph = one_step_graph(s)

    def once(n):
        for _ in range(n):
            out = graph.invoke({"i": 0, "n": 1}, config(), durability="sync")
            assert out["i"] == 1, out

    us, n, walls = measure(once, 20)
    note(f"{n} one-step runs: {us:.1f} µs/run (walls {', '.join(f'{w:.2f}' for w in walls)} s)")
    s.conn.close()
    return us


class Chat(TypedDict):
    messages: Annotated[list, add_messages]


def agent_graph(checkpointer, turns):
    """The storage bench's agent as a LangGraph agent: a scripted model and the fetch tool."""

    def agent(state):
        n = sum(isinstance(m, AIMessage) for m in state["messages"]) + 1
        answer, call = turns[n - 1]
        calls = [{"id": call[0], "name": call[1], "args": call[2], "type": "tool_call"}] if call else []
        return {"messages": [AIMessage(content=answer, tool_calls=calls)]}

    def tools(state):
        call = state["messages"][-1].tool_calls[0]
        return {"messages": [ToolMessage(content=conversation.record_text(call["args"]["record"]),
                                         tool_call_id=call["id"], name=call["name"])]}

    g = StateGraph(Chat)
    g.add_node("agent", agent)
    g.add_node("tools", tools)
    g.add_edge(START, "agent")
    g.add_conditional_edges("agent", lambda s: "tools" if s["messages"][-1].tool_calls else END)
    g.add_edge("tools", "agent")
    return g.compile(checkpointer=checkpointer)


def checkpointed_size(path):
    """Bytes of the database and its WAL after wal_checkpoint(TRUNCATE) with no other connection
    open, as storage.rs measures Waymark's: the WAL is then empty, the file holds every page."""
    conn = sqlite3.connect(path)
    busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    conn.close()
    assert busy == 0, f"the checkpoint of {path} was blocked"
    size = lambda p: os.path.getsize(p) if os.path.exists(p) else 0
    return size(path) + size(path + "-wal")


def bench_storage(scratch):
    path = os.path.join(scratch, "lg-agent.db")
    saver(path).conn.close()  # the empty database (schema only), as the baseline
    empty = checkpointed_size(path)

    s = saver(path)
    turns = conversation.turns()
    graph = agent_graph(s, turns)
    inp = {"messages": [SystemMessage(content=conversation.instructions()),
                        HumanMessage(content=conversation.INPUT)]}
    t = time.perf_counter()
    out = graph.invoke(inp, config() | {"recursion_limit": 1000}, durability="sync")
    took = time.perf_counter() - t
    msgs = out["messages"]
    # The whole conversation is there: system, input, 200 answers, 199 tool results.
    assert len(msgs) == 2 + 2 * conversation.MODEL_STEPS - 1, len(msgs)
    assert msgs[-1].content == turns[-1][0]
    checkpoints = s.conn.execute("SELECT COUNT(*) FROM checkpoints").fetchone()[0]
    s.conn.close()

    growth = checkpointed_size(path) - empty
    unique = conversation.unique_bytes()
    note(f"200-step agent: {len(msgs)} messages, {checkpoints} checkpoints, {took:.2f} s; "
         f"growth {growth} bytes / unique {unique} bytes = {growth / unique:.2f}x "
         "(the unique bytes count the 10-tool list, which LangGraph keeps in code, not the db)")
    return growth, unique


def main():
    scratch = sys.argv[1]
    os.makedirs(scratch, exist_ok=True)
    note(f"the disk now: {commit_floor(scratch):.0f} µs per fsynced SQLite commit")
    step_us = bench_steps(scratch)
    run_us = bench_runs(scratch)
    growth, unique = bench_storage(scratch)
    print(json.dumps({
        "peer_langgraph_step_us": round(step_us, 1),
        "peer_langgraph_run_us": round(run_us, 1),
        "peer_langgraph_200_db_growth_bytes": growth,
        "peer_langgraph_200_storage_ratio": round(growth / unique, 3),
    }))


if __name__ == "__main__":
    main()
