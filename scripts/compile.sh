#!/usr/bin/env bash
# Optional: compile pen's hot path with mypyc, from the same type-annotated Python, into a
# separate tree (default build/compiled/).  The pure-Python package stays what the venv runs;
# the compiled one is used by putting its tree first on the path:
#   scripts/compile.sh [OUT]                      build OUT/pen (a copy of pen/ plus the .so files)
#   PYTHONPATH=build/compiled .venv/bin/pen ...   run pen with the compiled modules
# Needs gcc, Python's headers and mypy (the test extra).  Rebuild after changing the source: the
# tree is a copy.  What it buys: bench/PROFILE.md; what it changes: docs/architecture.md.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-$here/build/compiled}")
# the modules every connection runs through: the event loop, one connection, the balancer
# shell, the dispatcher and its store, selection, the connection slots, the server and client
# records, the decision state and the settings (docs/architecture.md, "The compiled hot path")
modules=(pen/engine/reactor.py pen/engine/conn.py pen/engine/balancer.py
         pen/core/balance/dispatch.py pen/core/balance/store.py pen/core/balance/selection.py pen/core/balance/connslots.py
         pen/core/balance/servers.py pen/core/balance/clients.py pen/core/balance/shared.py
         pen/core/balance/state.py
         pen/settings.py)
mypyc="$here/.venv/bin/mypyc"
if [ ! -x "$mypyc" ]; then
    echo "compile: $mypyc missing (bash scripts/setup.sh installs mypy with the test extra)" >&2
    exit 1
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/pen-compile.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp -r "$here/pen" "$work/pen"
find "$work/pen" -name __pycache__ -prune -exec rm -rf {} +
if ! (cd "$work" && "$mypyc" "${modules[@]}" >"$work/build.log" 2>&1); then
    tail -40 "$work/build.log" >&2
    echo "compile: mypyc failed (the modules must type-check: .venv/bin/mypy ${modules[*]})" >&2
    exit 1
fi
rm -rf "$out"
mkdir -p "$out"
cp -r "$work/pen" "$out/pen"
cp "$work"/*.so "$out/" 2>/dev/null || true      # the shared library of a multi-module build
git -C "$here" rev-parse --short HEAD >"$out/SOURCE" 2>/dev/null || echo unknown >"$out/SOURCE"
echo "compile: ${#modules[@]} modules compiled into $out (PYTHONPATH=$out .venv/bin/pen ...)"
