#!/usr/bin/env bash
# The desktop app (src-tauri/): build, run, package, smoke-test and benchmark it.
# Usage: bash scripts/desktop.sh build|run|package|smoke|bench
set -euo pipefail
cd "$(dirname "$0")/.."

SYSTEM_PACKAGES=(libwebkit2gtk-4.1-dev build-essential pkg-config xvfb xauth webkit2gtk-driver
    imagemagick x11-utils libayatana-appindicator3-dev librsvg2-dev)
TAURI_DRIVER_VERSION=2.1.0

say() { echo "desktop: $*"; }

ensure_packages() { bash scripts/setup-system.sh "${SYSTEM_PACKAGES[@]}"; }

# The app embeds ui/dist at compile time: build-ui.sh rebuilds it when a source is newer.
ensure_ui() {
    if [ ! -d ui/node_modules ] || [ ui/package-lock.json -nt ui/node_modules/.package-lock.json ]; then
        say "installing the UI's npm packages"
        (cd ui && npm ci --no-audit --no-fund)
    fi
    bash scripts/build-ui.sh
}

build() {
    ensure_packages
    ensure_ui
    cargo build -p waymark-desktop "$@"
}

ensure_tauri_driver() {
    command -v tauri-driver >/dev/null 2>&1 && return
    say "installing tauri-driver $TAURI_DRIVER_VERSION"
    # Not our crate: built without make's lint wrapper (its own warnings are not ours to fix).
    env -u RUSTC_WORKSPACE_WRAPPER -u CLIPPY_ARGS cargo install tauri-driver --locked --version "$TAURI_DRIVER_VERSION"
    export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
}

# Runs "$@" with a session bus (single-instance, notifications) and, without a display, Xvfb.
headless() { dbus-run-session -- xvfb-run -a "$@"; }

cmd_run() {
    if [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; then
        build
        exec ./target/debug/waymark-desktop
    fi
    echo "desktop: no display (neither DISPLAY nor WAYLAND_DISPLAY is set): starting the browser door (waymark serve) instead"
    cargo build -p waymark-cli
    exec ./target/debug/waymark serve
}

cmd_package() {
    ensure_packages
    ensure_ui
    local log=target/desktop-package.log
    mkdir -p target
    say "bundling a .deb (release build; log: $log)"
    # The Tauri CLI finds the app from src-tauri/; the CLI binary comes from ui/node_modules.
    if (cd src-tauri && ../ui/node_modules/.bin/tauri build --bundles deb --ci) 2>&1 | tee "$log"; then
        local deb
        deb=$(find target/release/bundle/deb -maxdepth 1 -name '*.deb' -newer "$log" -print -quit 2>/dev/null || true)
        [ -z "$deb" ] && deb=$(ls -t target/release/bundle/deb/*.deb 2>/dev/null | head -n1 || true)
        [ -n "$deb" ] || { say "tauri build succeeded but no .deb was found under target/release/bundle/deb"; exit 1; }
        say "package: $deb"
        return
    fi
    if grep -qiE 'download|https?://|network|dns|resolve' "$log"; then
        say "packaging FAILED: the deb bundler tried to download something and this machine is offline (see $log)"
    else
        say "packaging FAILED (see $log)"
    fi
    exit 1
}

cmd_smoke() {
    # `make test` sets WAYMARK_DESKTOP_BUILT: its workspace test build just made the binary (a
    # `-p` build here would resolve features differently and rebuild half the dependencies).
    if [ -n "${WAYMARK_DESKTOP_BUILT:-}" ] && [ -x target/debug/waymark-desktop ]; then
        say "using the binary the test build made (target/debug/waymark-desktop)"
    else
        build
    fi
    ensure_tauri_driver
    headless node tests/desktop/smoke.mjs
}

# One sample: cold start until the UI's first successful backend call, then PSS after ~5 s idle.
bench_once() {
    local bin=$1 home out pid t0 t1 line ms pss
    home=$(mktemp -d)
    out="$home/stdout"
    t0=$(date +%s%N)
    WAYMARK_HOME="$home" WAYMARK_SECRET_BACKEND=file WAYMARK_DB="" RUST_LOG=warn "$bin" >"$out" 2>"$home/stderr" &
    pid=$!
    line=""
    for _ in $(seq 1 600); do
        line=$(grep -m1 'first api call ok' "$out" 2>/dev/null || true)
        [ -n "$line" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    t1=$(date +%s%N)
    if [ -z "$line" ]; then
        echo "bench: the app made no successful API call within 30 s; its stderr:" >&2
        tail -n 20 "$home/stderr" >&2
        kill "$pid" 2>/dev/null || true
        return 1
    fi
    ms=$(( (t1 - t0) / 1000000 ))
    sleep 5
    pss=0
    for p in $pid $(descendants "$pid"); do
        local kb
        kb=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
        pss=$(( pss + ${kb:-0} ))
    done
    local all
    all="$pid $(descendants "$pid")"
    # shellcheck disable=SC2086
    kill $all 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    # shellcheck disable=SC2086
    kill -9 $all 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -rf "$home"
    echo "$ms $pss"
}

# Every process below $1 (WebKitWebProcess, WebKitNetworkProcess, MCP servers).
descendants() {
    local kids k
    kids=$(ps -o pid= --ppid "$1" 2>/dev/null || true)
    for k in $kids; do
        echo "$k"
        descendants "$k"
    done
}

bench_inner() {
    local bin=$1 starts=() psss=() r
    for i in 1 2 3 4 5; do
        r=$(bench_once "$bin")
        starts+=("${r% *}")
        psss+=("${r#* }")
        echo "bench: run $i: first API call after ${r% *} ms, idle PSS $(( ${r#* } / 1024 )) MiB" >&2
    done
    median() { printf '%s\n' "$@" | sort -n | sed -n 3p; }
    local start_ms pss_kb
    start_ms=$(median "${starts[@]}")
    pss_kb=$(median "${psss[@]}")
    mkdir -p target/bench
    printf '{"app_start_ms": %s, "app_idle_rss_mb": %s}\n' "$start_ms" \
        "$(awk -v k="$pss_kb" 'BEGIN { printf "%.1f", k / 1024 }')" >target/bench/desktop.json
    cat target/bench/desktop.json
}

cmd_bench() {
    ensure_packages
    ensure_ui
    cargo build --release -p waymark-desktop
    headless bash scripts/desktop.sh _bench-inner "$PWD/target/release/waymark-desktop"
}

case "${1:-}" in
    build) shift; build "$@" ;;
    run) cmd_run ;;
    package) cmd_package ;;
    smoke) cmd_smoke ;;
    bench) cmd_bench ;;
    _bench-inner) bench_inner "$2" ;;
    *) echo "usage: bash scripts/desktop.sh build|run|package|smoke|bench" >&2; exit 2 ;;
esac
