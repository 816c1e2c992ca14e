#!/usr/bin/env bash
# Set everything up and run the whole test suite (what .ci/run runs).
#   scripts/test.sh             everything: the parallel part, then the `alone` tests one at a
#                               time (failover timing measured side by side with keepalived:
#                               the load of other tests running beside them skews the figures)
#   scripts/test.sh ARGS...     pytest ARGS, in parallel, as given
# The whole run type-checks the product code first (mypy, configured in pyproject.toml's
# [tool.mypy]) and fails when mypy reports an error; the tests run all the same.
# Fails when any test fails; pytest's exit 5 (no test ran) fails too.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "$#" -gt 0 ]; then
    exec .venv/bin/python -m pytest -n auto "$@"
fi
types=0
.venv/bin/python -m mypy || types=$?
rc=0
.venv/bin/python -m pytest -n auto -m "not alone" || rc=$?
alone=0
.venv/bin/python -m pytest -p no:xdist -m alone || alone=$?
if [ "$types" -ne 0 ]; then
    echo "test.sh: mypy reported errors (exit $types)" >&2
fi
if [ "$rc" -ne 0 ]; then
    echo "test.sh: the parallel part failed (pytest exit $rc)" >&2
    exit "$rc"
fi
if [ "$alone" -ne 0 ]; then
    exit "$alone"
fi
exit "$types"
