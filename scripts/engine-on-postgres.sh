#!/usr/bin/env bash
# The engine's scenario suite again, the same test binary that `cargo test --workspace` built
# and ran on SQLite, now on PostgreSQL (a private server it starts and stops itself).
# Running the binary as built avoids `cargo test -p`, which would build the engine a second
# time with other features.
set -euo pipefail
cargo="${CARGO:-cargo}"
bin=$($cargo test --workspace --no-run --message-format=json 2>/dev/null |
    grep '"executable":"' | grep '"name":"it"' | grep 'crates/engine#' |
    sed 's/.*"executable":"\([^"]*\)".*/\1/')
if [ -z "$bin" ]; then
    echo "engine-on-postgres: the engine's test binary was not found" >&2
    exit 1
fi
cd crates/engine
WAYMARK_TEST_BACKEND=postgres "$bin" "$@"
