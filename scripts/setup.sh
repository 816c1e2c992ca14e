#!/usr/bin/env bash
# Set up pen-ha on a fresh Debian 12 machine (as root): Debian packages, a virtualenv, the
# project installed into it with its test extra.  Idempotent: a second run is quick.
#   scripts/setup.sh            everything the tests need
#   scripts/setup.sh --minimal  only the virtualenv (the demo needs nothing more)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
minimal=0
[ "${1:-}" = "--minimal" ] && minimal=1

want=()
if [ "$minimal" = 0 ]; then
    while read -r pkg _; do
        case "$pkg" in ""|\#*) continue ;; esac
        want+=("$pkg")
    done < scripts/debian-packages.txt
fi
# A Python without venv/ensurepip (Debian's stock python3) needs python3-venv.
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    want+=(python3-venv)
fi
missing=()
for pkg in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "setup: missing Debian packages (run as root to install): ${missing[*]}" >&2
    else
        echo "setup: installing Debian packages: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
stamp=.venv/.pen-ha-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null
    .venv/bin/python -m pip install -q -e ".[test]"
    touch "$stamp"
fi
