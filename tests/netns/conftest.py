"""Fixtures for the penvrrp namespace tests: a fresh LAN per test, always torn down."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import vrrplab  # noqa: E402


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[vrrplab.Lab]:
    """Two nodes' LAN: switch namespace with a bridge (client 192.0.2.254), nodes .1 and .2."""
    with vrrplab.running_lab(tmp_path, 2) as lan:
        yield lan


@pytest.fixture
def lab3(tmp_path: Path) -> Iterator[vrrplab.Lab]:
    """Three nodes: .1, .2, .3."""
    with vrrplab.running_lab(tmp_path, 3) as lan:
        yield lan
