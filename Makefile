# Waymark: the two commands. Both set up what they need and are quick when it is done.
SHELL := /bin/bash
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

## Lints in the same compile as the tests: the workspace's own crates are compiled by clippy's
## driver (rustc with clippy's lints, scripts/lint-rustc.sh), so `make test` does not compile
## everything a second time for `cargo clippy` (7 of a cold run's minutes). Every target here
## uses it, so `make run` after `make test` rebuilds nothing.
export RUSTC_WORKSPACE_WRAPPER := $(CURDIR)/scripts/lint-rustc.sh
export CLIPPY_ARGS := -D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__
has_clippy_driver = (rustup which clippy-driver || command -v clippy-driver) >/dev/null 2>&1

.PHONY: run test bench bindings setup test-deps check-toolchain ui package ui-test desktop-smoke

check-toolchain:
	@command -v $(CARGO) >/dev/null || { echo "error: cargo is missing; install Rust from https://rustup.rs"; exit 1; }
	@if command -v rustup >/dev/null; then \
	  rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt; \
	  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy; \
	fi

setup: check-toolchain

## Debian packages the desktop app builds and runs on (WebKitGTK), the browser and display the
## tests drive (chromium, Xvfb, WebKitWebDriver), the keychain test's Secret Service, the mail
## tests' IMAP server (Dovecot, started by each test on its own port, never the system one), the
## team backend's PostgreSQL (each test starts a private cluster on a free port as the postgres
## user, never the package's main cluster or port 5432); the npm
## packages of the web app and the tests, and the published MCP servers the tests talk to.
DESKTOP_PACKAGES := libwebkit2gtk-4.1-dev build-essential pkg-config libayatana-appindicator3-dev librsvg2-dev libdbus-1-dev
TEST_PACKAGES := xvfb xauth webkit2gtk-driver chromium imagemagick x11-utils dovecot-imapd postgresql python3
test-deps:
	bash scripts/setup-system.sh $(DESKTOP_PACKAGES) $(TEST_PACKAGES)
	bash scripts/setup-test-deps.sh

## The web app (ui/dist): the desktop app embeds it and `waymark serve` serves it.
ui: test-deps
	bash scripts/build-ui.sh

## make run: the desktop app with the offline demo agent ready (scripted model, demo MCP tools; no
## network, no API key). With no display it says so and starts `waymark serve`, printing the
## link to open in a browser. `./target/debug/waymark demo` runs the same demo in the terminal.
run: setup ui
	bash scripts/desktop.sh run

## make package: a .deb and an .rpm with both doors, /usr/bin/waymark-desktop and /usr/bin/waymark
## (release build, Tauri's bundler, offline); prints where each is and its size.
package: setup ui
	bash scripts/desktop.sh package

## make test: formatting, lints, and every test (unit, scenario, crash chaos, fencing, CLI, real
## MCP servers), then the browser tests of the web app, the desktop smoke test under Xvfb, and
## the package test (it installs and removes the `waymark` package: root or sudo).
test: setup ui
	$(CARGO) fmt --all -- --check
	@$(has_clippy_driver) || $(CARGO) clippy --workspace --all-targets -- -D warnings
	# The agent tests start the demo-tools binary, which this build makes before any test runs
	# (the demo-tools crate's own tests need it): they use it as built.
	WAYMARK_DEMO_TOOLS_BUILT=1 $(CARGO) test --workspace
	# The engine's scenario suite again, the same test code on PostgreSQL (a private server).
	CARGO="$(CARGO)" bash scripts/engine-on-postgres.sh
	node tests/conformance/run.mjs
	# The browser tests and the desktop smoke test drive the binaries that build just made.
	node --test --test-concurrency=1 tests/ui/*.test.mjs
	WAYMARK_DESKTOP_BUILT=1 bash scripts/desktop.sh smoke
	# The .deb of those binaries, installed over a 0.1.0 data directory, used, and removed.
	WAYMARK_DESKTOP_BUILT=1 bash scripts/desktop.sh package-test

## The browser tests: playwright-core driving Debian's chromium against a real `waymark serve`
## (screenshots in target/ui-screenshots/).
ui-test:
	$(CARGO) build -p waymark-cli
	node --test --test-concurrency=1 tests/ui/*.test.mjs

## The desktop app under Xvfb, driven over WebDriver (WebKitWebDriver, as tauri-driver starts it).
desktop-smoke:
	bash scripts/desktop.sh smoke

## make bindings: rewrite ui/src/bindings from the Rust types (the test run fails when they are stale).
bindings: setup
	WAYMARK_UPDATE_BINDINGS=1 $(CARGO) test -p waymark-api --test bindings

## make bench: one release build of the whole workspace (every binary with the same features),
## then the figures: the engine, agents, email, the UI, the desktop app beside a bare Tauri
## window, the peers (LangGraph, DBOS) in a venv under target/, and the team backend on a
## private PostgreSQL server (with DBOS on the same server). The merge prints every
## target MET or MISSED; the figures are in target/bench.json.
bench: setup ui
	$(CARGO) build --release --workspace --bins
	target/release/waymark-bench
	WAYMARK_BIN=target/release/waymark node tests/ui/bench-trace.mjs
	WAYMARK_RELEASE_BUILT=1 bash scripts/desktop.sh bench
	bash scripts/bench-peers.sh
	target/release/waymark-bench postgres
	target/release/waymark-bench merge
