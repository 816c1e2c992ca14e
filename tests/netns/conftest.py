"""Fixtures for the penvrrp namespace tests: a fresh LAN per test, always torn down."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import vrrplab  # noqa: E402


def _require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("network namespace tests need root")


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[vrrplab.Lab]:
    """Two penvrrp nodes' LAN: switch namespace with a bridge, nodes 192.0.2.1 and .2."""
    _require_root()
    lan = vrrplab.Lab(tmp_path, nodes=2)
    try:
        lan.build()
        yield lan
    finally:
        lan.close()


@pytest.fixture
def lab3(tmp_path: Path) -> Iterator[vrrplab.Lab]:
    _require_root()
    lan = vrrplab.Lab(tmp_path, nodes=3)
    try:
        lan.build()
        yield lan
    finally:
        lan.close()
