"""Fixtures for the scale-out lab tests (issue 12): a deploy/scale lab per test, always torn down.

The lab is deploy/scale/scalelab.py itself (the one operators run as deploy/scale/lab), with a
name unique per test (pid + counter) and its state under the test's tmp_path, so `pytest -n auto`
runs several labs at once.
"""
from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

SCALE = Path(__file__).resolve().parents[3] / "deploy" / "scale"
sys.path.insert(0, str(SCALE))

import scalelab  # noqa: E402

_counter = itertools.count(1)


@pytest.fixture
def scale_lab(tmp_path: Path) -> Iterator[Callable[..., scalelab.ScaleLab]]:
    """A factory: `scale_lab("ecmp", nodes=3)` builds and starts a lab, converged (`peers=True`:
    client tracking, the tables shared by pen peers)."""
    if os.geteuid() != 0:
        pytest.skip("network namespace tests need root")
    labs: list[scalelab.ScaleLab] = []

    def make(mode: str, nodes: int = 3, peers: bool = False) -> scalelab.ScaleLab:
        lab = scalelab.ScaleLab(f"sc{os.getpid()}x{next(_counter)}", tmp_path / f"lab{len(labs)}",
                                Path(sys.executable).parent, mode, nodes, sys.executable, peers)
        labs.append(lab)
        lab.up()
        return lab

    try:
        yield make
    finally:
        for lab in labs:
            lab.down(quiet=True)
