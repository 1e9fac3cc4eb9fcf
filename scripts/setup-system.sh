#!/usr/bin/env bash
# Installs the Debian packages the tests need, only those missing (quick when all are there):
#   gnome-keyring + dbus-daemon: a real Secret Service for the keychain test (dbus-run-session);
#   python3-venv: Debian's Python needs it for `python3 -m venv` (mcp-server-time's venv).
# Usage: bash scripts/setup-system.sh [extra packages...]
set -euo pipefail

packages=(gnome-keyring dbus-daemon "$@")
if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    packages+=(python3-venv)
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && { echo "setup-system: Debian packages up to date"; exit 0; }

if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
else
    echo "setup-system: these Debian packages are missing and I cannot install them without root: ${missing[*]}" >&2
    exit 1
fi
echo "setup-system: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
    "${sudo[@]}" apt-get update >/dev/null
    "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
}
