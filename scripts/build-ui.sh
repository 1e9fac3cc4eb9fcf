#!/usr/bin/env bash
# Builds the web app (ui/dist) when a source is newer than the last build; quick otherwise.
# The desktop app embeds ui/dist and `waymark serve` serves it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ui="$root/ui"
stamp="$ui/dist/index.html"
if [ -f "$stamp" ] && [ -z "$(find "$ui/src" "$ui/public" "$ui/index.html" "$ui/package-lock.json" \
        "$ui/vite.config.ts" "$ui/tsconfig.json" -newer "$stamp" -print -quit)" ]; then
    echo "build-ui: ui/dist up to date"
    exit 0
fi
echo "build-ui: building the web app (type check + vite build)"
(cd "$ui" && npm run --silent build -- --logLevel warn)
