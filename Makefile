# Waymark: the two commands. Both set up what they need and are quick when it is done.
SHELL := /bin/bash
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: run test bench bindings setup test-deps check-toolchain

check-toolchain:
	@command -v $(CARGO) >/dev/null || { echo "error: cargo is missing; install Rust from https://rustup.rs"; exit 1; }
	@if command -v rustup >/dev/null; then \
	  rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt; \
	  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy; \
	fi

setup: check-toolchain

## Debian packages (keychain test, Python venv) and the published MCP servers the tests talk to.
test-deps:
	bash scripts/setup-system.sh
	bash scripts/setup-test-deps.sh

## make run: the API server with the offline demo agent ready (scripted model, demo MCP tools; no
## network, no API key); it prints the browser link and the curl lines that start the demo run.
## `./target/debug/waymark demo` runs the same demo in the terminal.
run: setup
	$(CARGO) build -p waymark-cli
	./target/debug/waymark serve

## make test: formatting, lints, and every test (unit, scenario, crash chaos, fencing, CLI, real MCP servers).
test: setup test-deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	# The agent tests start this binary as an MCP server: built here, not inside a test.
	$(CARGO) build -p waymark-demo-tools --bin waymark-demo-tools
	$(CARGO) test --workspace

## make bindings: rewrite ui/src/bindings from the Rust types (the test run fails when they are stale).
bindings: setup
	WAYMARK_UPDATE_BINDINGS=1 $(CARGO) test -p waymark-api --test bindings

## make bench: release-build benchmarks; figures in target/bench.json.
bench: setup
	$(CARGO) run --release -p waymark-bench
	$(CARGO) run --release -p waymark-bench -- merge
