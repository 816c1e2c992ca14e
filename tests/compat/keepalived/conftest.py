"""keepalived interop fixtures: the same namespace lab as tests/netns (vrrplab)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "netns"))

import vrrplab  # noqa: E402


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[vrrplab.Lab]:
    if os.geteuid() != 0:
        pytest.skip("keepalived interop tests need root (network namespaces)")
    if not vrrplab.have_keepalived():
        pytest.skip("keepalived is not installed (scripts/debian-packages.txt lists it)")
    lan = vrrplab.Lab(tmp_path, nodes=2)
    try:
        lan.build()
        yield lan
    finally:
        lan.close()
