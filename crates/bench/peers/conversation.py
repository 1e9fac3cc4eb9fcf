"""The 200-step agent conversation of Waymark's storage bench (crates/bench/src/storage.rs),
ported from the Rust generator (crates/bench/src/bench_tools.rs) so the texts are byte-identical,
and the unique-bytes figure computed the way storage.rs computes it."""

import json

MASK = (1 << 64) - 1
WORDS = [
    "order", "ledger", "invoice", "shipment", "customer", "refund", "warehouse", "carrier",
    "parcel", "route", "delay", "address", "payment", "balance", "credit", "return",
    "status", "pending", "cleared", "flagged", "region", "north", "south", "harbor",
    "invoice-line", "quantity", "weight", "priority", "express", "standard", "audit", "note",
]

MODEL_STEPS = 200
INSTRUCTIONS_BYTES = 20 * 1024
ANSWER_BYTES = 300
RECORD_BYTES = 1024
DESCRIPTION_BYTES = 900
TOOL_COUNT = 10
FETCH_TOOL = "fetch_record"
INPUT = "Go through records 1 to 199 one at a time and summarise each."


def text(seed, length):
    """bench_tools.rs `text`: xorshift64* over 64-bit wrapping arithmetic."""
    x = ((seed * 0x9E3779B97F4A7C15) & MASK) | 1
    out = [f"[{seed}] "]
    n = len(out[0])
    while n < length:
        x ^= x >> 12
        x = (x ^ (x << 25)) & MASK
        x ^= x >> 27
        r = (x * 0x2545F4914F6CDD1D) & MASK
        part = WORDS[r >> 59]
        if r & 7 == 0:
            part += f" {(r >> 20) % 100_000}"
        part += "." if r & 0x30 == 0 else " "
        out.append(part)
        n += len(part)
    return "".join(out)[:length]


def record_text(record):
    return text(1_000_000 + record, RECORD_BYTES)


def record_schema():
    return {
        "type": "object",
        "properties": {
            "record": {"type": "integer", "minimum": 0, "description": "The record's number."}
        },
        "required": ["record"],
    }


def tools():
    """(name, description, schema) of the ten listed tools."""
    return [
        (FETCH_TOOL if i == 0 else f"archive_tool_{i}", text(500 + i, DESCRIPTION_BYTES), record_schema())
        for i in range(TOOL_COUNT)
    ]


def compact(value):
    # serde_json's `to_string`: no spaces (key order does not change the length).
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def turns():
    """(answer text, tool call or None) per model step; a call is (id, name, arguments)."""
    return [
        (text(10_000 + n, ANSWER_BYTES),
         (f"c{n}", FETCH_TOOL, {"record": n}) if n < MODEL_STEPS else None)
        for n in range(1, MODEL_STEPS + 1)
    ]


def instructions():
    return text(1, INSTRUCTIONS_BYTES)


def unique_bytes():
    """Bytes of unique content, as storage.rs `Content::unique_bytes` sums them."""
    ts = turns()
    calls = [c for _, c in ts if c]
    tool_list = sum(len(name) + len(desc) + len(compact(schema)) for name, desc, schema in tools())
    return (len(instructions()) + len(INPUT) + tool_list
            + sum(len(t) for t, _ in ts)
            + sum(len(i) + len(name) + len(compact(args)) for i, name, args in calls)
            + RECORD_BYTES * len(calls))


if __name__ == "__main__":
    # Debug aid: `python3 conversation.py` prints the unique bytes (300519, as the Rust bench's
    # agent_run_200_unique_bytes); `... texts` prints every text once, one a line, to diff
    # against the same seeds run through the Rust `text`.
    import sys
    if sys.argv[1:] == ["texts"]:
        seeds = ([(1, INSTRUCTIONS_BYTES)] + [(500 + i, DESCRIPTION_BYTES) for i in range(TOOL_COUNT)]
                 + [(10_000 + n, ANSWER_BYTES) for n in range(1, MODEL_STEPS + 1)]
                 + [(1_000_000 + n, RECORD_BYTES) for n in range(1, MODEL_STEPS)])
        print("\n".join(text(s, n) for s, n in seeds))
    else:
        print(unique_bytes())
