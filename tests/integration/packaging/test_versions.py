"""Every program's --version: `NAME (pen-ha) VERSION`, the one version pip installed."""
from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
PROGRAMS = ("pen", "penctl", "penlogd", "penlog", "mergelogs", "webstats", "penvrrp")


@pytest.mark.parametrize("program", PROGRAMS)
def test_version_line(program: str) -> None:
    r = subprocess.run([str(BIN / program), "--version"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == f"{program} (pen-ha) {metadata.version('pen-ha')}"


def test_one_version_written_once() -> None:
    """pyproject.toml holds the version; the code reads it back from the metadata."""
    import pen
    from pen.version import VERSION
    assert pen.__version__ == VERSION == metadata.version("pen-ha") != "0+unknown"
    root = Path(__file__).resolve().parents[3]
    hits = subprocess.run(["grep", "-rln", f'"{VERSION}"', "pen", "penctl", "penlogd",
                           "mergelogs", "webstats", "penvrrp"], cwd=root, capture_output=True,
                          text=True).stdout
    assert hits == "", f"version literal outside pyproject.toml: {hits}"
