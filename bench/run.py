#!/usr/bin/env python3
"""`python3 bench/run.py [options]`: the same as `bash bench/run [options]`."""
import os
import sys
from pathlib import Path

run = Path(__file__).resolve().parent / "run"
os.execvp("bash", ["bash", str(run), *sys.argv[1:]])
