#!/usr/bin/env bash
# The desktop app (src-tauri/): build, run, package, smoke-test and benchmark it.
# Usage: bash scripts/desktop.sh build|run|package|package-test|smoke|bench
set -euo pipefail
cd "$(dirname "$0")/.."

SYSTEM_PACKAGES=(libwebkit2gtk-4.1-dev build-essential pkg-config xvfb xauth webkit2gtk-driver
    imagemagick x11-utils libayatana-appindicator3-dev librsvg2-dev libdbus-1-dev)

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

# Where the bundler put each package of $1 (release|debug), with its size.
list_packages() {
    local dir=target/$1/bundle found=0 f
    for f in "$dir"/deb/*.deb "$dir"/rpm/*.rpm; do
        [ -f "$f" ] || continue
        found=1
        say "package: $f ($(du -h "$f" | cut -f1))"
    done
    [ "$found" = 1 ] || { say "no package was found under $dir"; exit 1; }
}

# Tauri's bundler, offline: the desktop app and, beside it, the `waymark` CLI (the files that
# tauri.conf.json maps to /usr/bin/waymark). "$@": the Tauri CLI's own options.
bundle() {
    local log=$1
    shift
    if (cd src-tauri && ../ui/node_modules/.bin/tauri "$@" --ci) 2>&1 | tee "$log"; then
        return 0
    fi
    if grep -qiE 'download|https?://|network|dns|resolve' "$log"; then
        say "packaging FAILED: the bundler tried to download something and this machine is offline (see $log)"
    else
        say "packaging FAILED (see $log)"
    fi
    exit 1
}

cmd_package() {
    ensure_packages
    ensure_ui
    mkdir -p target
    say "building the release binaries, then a .deb and an .rpm (log: target/desktop-package.log)"
    # The whole workspace, as `make bench` builds it (one feature set, shared artifacts); the
    # bundler then only packs: the app, and target/release/waymark as /usr/bin/waymark.
    cargo build --release --workspace --bins
    rm -f target/release/bundle/deb/*.deb target/release/bundle/rpm/*.rpm
    bundle target/desktop-package.log bundle --bundles deb,rpm
    list_packages release
}

# The installed package, tested: a .deb of the binaries the test build made (debug, so no
# release build here), installed with apt-get over a 0.1.0 data directory, used and removed.
cmd_package_test() {
    if [ -n "${WAYMARK_DESKTOP_BUILT:-}" ] && [ -x target/debug/waymark-desktop ] && [ -x target/debug/waymark ]; then
        say "packaging the binaries the test build made (target/debug)"
    else
        build
        cargo build -p waymark-cli
    fi
    rm -f target/debug/bundle/deb/*.deb target/debug/bundle/rpm/*.rpm
    local files='{"bundle":{"linux":{"deb":{"files":{"/usr/bin/waymark":"../target/debug/waymark"}}}}}'
    bundle target/desktop-package-test.log bundle --debug --bundles deb -c "$files"
    list_packages debug
    headless node tests/desktop/package.mjs "$(ls target/debug/bundle/deb/*.deb | head -n1)"
}

cmd_smoke() {
    # `make test` sets WAYMARK_DESKTOP_BUILT: its workspace test build just made the binary (a
    # `-p` build here would resolve features differently and rebuild half the dependencies).
    if [ -n "${WAYMARK_DESKTOP_BUILT:-}" ] && [ -x target/debug/waymark-desktop ]; then
        say "using the binary the test build made (target/debug/waymark-desktop)"
    else
        build
    fi
    headless node tests/desktop/smoke.mjs
}

# One sample of $1, started cold with an empty data directory: the time until it prints a line
# matching $2 (the app: the UI's first successful backend call; the floor: its page loaded), then,
# after ~5 s idle, the memory of it and every process below it (WebKitWebProcess,
# WebKitNetworkProcess, MCP servers) from /proc/PID/smaps_rollup: PSS, private
# (Private_Clean + Private_Dirty) and the rest of PSS, its proportional share of shared pages.
# Prints "ms pss_kb private_kb"; the per-process figures go to stderr.
bench_once() {
    local bin=$1 ready=$2 home out pid t0 t1 line ms
    home=$(mktemp -d)
    out="$home/stdout"
    t0=$(date +%s%N)
    WAYMARK_HOME="$home" WAYMARK_SECRET_BACKEND=file WAYMARK_DB="" RUST_LOG=warn "$bin" >"$out" 2>"$home/stderr" &
    pid=$!
    line=""
    for _ in $(seq 1 600); do
        line=$(grep -m1 "$ready" "$out" 2>/dev/null || true)
        [ -n "$line" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    t1=$(date +%s%N)
    if [ -z "$line" ]; then
        echo "bench: $(basename "$bin") did not print '$ready' within 30 s; its stderr:" >&2
        tail -n 20 "$home/stderr" >&2
        kill "$pid" 2>/dev/null || true
        return 1
    fi
    ms=$(( (t1 - t0) / 1000000 ))
    sleep 5
    local all p pss=0 private=0 procs="" figures
    all="$pid $(descendants "$pid")"
    for p in $all; do
        # "pss_kb private_kb" of one process (0 0 if it is gone).
        figures=$(awk '/^Pss:/ {pss = $2} /^Private_(Clean|Dirty):/ {priv += $2}
            END {print pss + 0, priv + 0}' "/proc/$p/smaps_rollup" 2>/dev/null || echo "0 0")
        pss=$(( pss + ${figures% *} ))
        private=$(( private + ${figures#* } ))
        procs="$procs $(cat "/proc/$p/comm" 2>/dev/null || echo "?") $(( ${figures% *} / 1024 ))/$(( ${figures#* } / 1024 ))"
    done
    echo "bench:   $(basename "$bin"): ready after $ms ms; idle PSS $(( pss / 1024 )) MiB, private $(( private / 1024 )), shared $(( (pss - private) / 1024 )); per process (PSS/private MiB):$procs" >&2
    # shellcheck disable=SC2086
    kill $all 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    # shellcheck disable=SC2086
    kill -9 $all 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -rf "$home"
    echo "$ms $pss $private"
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

# The sample of median PSS among "ms pss private" lines on stdin (its private and shared add up
# to its PSS), with the median start time in place of its own.
median_sample() {
    local samples start
    samples=$(cat)
    start=$(cut -d' ' -f1 <<<"$samples" | sort -n | sed -n 3p)
    sort -n -k2,2 <<<"$samples" | sed -n 3p | awk -v ms="$start" '{print ms, $2, $3}'
}

mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# The app and the floor (a bare Tauri window on an empty page), 5 samples each, alternating so
# that a busy machine weighs on both alike.
bench_inner() {
    local app=$1 floor=$2 app_samples="" floor_samples="" r i
    for i in 1 2 3 4 5; do
        echo "bench: sample $i of 5" >&2
        r=$(bench_once "$floor" 'page loaded')
        floor_samples+="$r"$'\n'
        r=$(bench_once "$app" 'first api call ok')
        app_samples+="$r"$'\n'
    done
    local a f a_ms a_pss a_priv f_pss f_priv
    a=$(printf '%s' "$app_samples" | median_sample)
    f=$(printf '%s' "$floor_samples" | median_sample)
    read -r a_ms a_pss a_priv <<<"$a"
    read -r _ f_pss f_priv <<<"$f"
    mkdir -p target/bench
    printf '{"app_start_ms": %s, "app_idle_pss_mb": %s, "app_idle_private_mb": %s, "app_idle_shared_pss_mb": %s, "app_floor_pss_mb": %s, "app_floor_private_mb": %s, "app_floor_shared_pss_mb": %s}\n' \
        "$a_ms" "$(mb "$a_pss")" "$(mb "$a_priv")" "$(mb $(( a_pss - a_priv )))" \
        "$(mb "$f_pss")" "$(mb "$f_priv")" "$(mb $(( f_pss - f_priv )))" >target/bench/desktop.json
    awk -v a="$a_pss" -v ap="$a_priv" -v f="$f_pss" -v fp="$f_priv" 'BEGIN {
        printf "\n%-28s %10s %10s %10s\n", "idle memory (MiB, median)", "PSS", "private", "shared"
        printf "%-28s %10.1f %10.1f %10.1f\n", "floor (bare Tauri window)", f / 1024, fp / 1024, (f - fp) / 1024
        printf "%-28s %10.1f %10.1f %10.1f\n", "app", a / 1024, ap / 1024, (a - ap) / 1024
        printf "%-28s %10.2f %10s %10s   %s (target <= 1.25)\n\n", "ratio app / floor", a / f, "", "", (a <= 1.25 * f) ? "MET" : "MISSED"
    }'
    cat target/bench/desktop.json
}

cmd_bench() {
    ensure_packages
    if [ "${WAYMARK_RELEASE_BUILT:-}" = 1 ]; then
        # `make bench` has built the whole workspace in release (the app and the floor with it).
        local b
        for b in waymark-desktop waymark-desktop-floor; do
            [ -x "target/release/$b" ] || { say "WAYMARK_RELEASE_BUILT=1 but target/release/$b is missing"; exit 1; }
        done
    else
        ensure_ui
        cargo build --release -p waymark-desktop -p waymark-desktop-floor
    fi
    headless bash scripts/desktop.sh _bench-inner "$PWD/target/release/waymark-desktop" \
        "$PWD/target/release/waymark-desktop-floor"
}

case "${1:-}" in
    build) shift; build "$@" ;;
    run) cmd_run ;;
    package) cmd_package ;;
    package-test) cmd_package_test ;;
    smoke) cmd_smoke ;;
    bench) cmd_bench ;;
    _bench-inner) bench_inner "$2" "$3" ;;
    *) echo "usage: bash scripts/desktop.sh build|run|package|package-test|smoke|bench" >&2; exit 2 ;;
esac
