#!/usr/bin/env bash
# Set up pen-ha on a fresh Debian 12 machine (as root): Debian packages, a virtualenv, the
# project installed into it with its test extra.  Idempotent: a second run is quick.
#   scripts/setup.sh            everything the tests need
#   scripts/setup.sh --minimal  only the virtualenv (the demo needs nothing more)
#   scripts/setup.sh --compiled also compile the hot path with mypyc into build/compiled
#                               (scripts/compile.sh; run pen with PYTHONPATH=build/compiled)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
minimal=0
compiled=0
for arg in "$@"; do
    case "$arg" in
        --minimal) minimal=1 ;;
        --compiled) compiled=1 ;;
        *) echo "setup: unknown option $arg (--minimal, --compiled)" >&2; exit 2 ;;
    esac
done

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
quiet_pip() {
    # pip's own errors still show; only the index-location notices and build chatter go.
    local rc
    set +e +o pipefail
    .venv/bin/python -m pip install -q "$@" 2>&1 \
        | grep -v -E "^WARNING: Location 'file:|BuildBackendWarning|^ *!!|^ *\*{10}|editable_wheel|with strategy|careful with folders|name as your package|^ *$"
    rc=${PIPESTATUS[0]}
    set -e -o pipefail
    return "$rc"
}
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "setup: installing pen-ha and its Python dependencies into .venv"
    quiet_pip --upgrade pip
    quiet_pip -e ".[test]"
    touch "$stamp"
fi
if [ "$compiled" = 1 ]; then
    bash scripts/compile.sh
fi
