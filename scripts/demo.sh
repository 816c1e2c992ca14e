#!/usr/bin/env bash
# Set up pen-ha and run the demo: pen in the foreground balancing three local web backends.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --minimal
exec .venv/bin/python scripts/demo.py "$@"
