#!/usr/bin/env bash
# One command: generate a 1 GB log set (once) and benchmark mergelogs and penlogd on it.
#   bench/logs/run.sh                 1 GB
#   bench/logs/run.sh --size 1e8      a quick 100 MB run
set -euo pipefail
cd "$(dirname "$0")/../.."
exec .venv/bin/python bench/logs/run.py "$@"
