#!/usr/bin/env bash
# Cargo's workspace wrapper for `make`: compiles the workspace's own crates with clippy's driver
# (rustc plus clippy's lints), so the test build is the lint pass too. Cargo calls it as
# `lint-rustc.sh RUSTC ARGS…`; without clippy-driver it runs rustc as given.
rustc="$1"
shift
driver="$(rustup which clippy-driver 2>/dev/null || command -v clippy-driver 2>/dev/null)"
if [ -n "$driver" ]; then
    exec "$driver" "$rustc" "$@"
fi
exec "$rustc" "$@"
