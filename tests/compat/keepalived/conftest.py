"""keepalived interop fixtures: the same namespace lab as tests/netns (vrrplab)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "netns"))

import vrrplab  # noqa: E402


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[vrrplab.Lab]:
    if not vrrplab.have_keepalived():
        pytest.skip("keepalived is not installed (scripts/debian-packages.txt lists it)")
    with vrrplab.running_lab(tmp_path, 2) as lan:
        yield lan
