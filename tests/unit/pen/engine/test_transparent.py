"""Transparent mode's helpers (pen/engine/transparent.py; docs/dataplane.md "Transparent
mode")."""
from __future__ import annotations

import pytest

from pen.engine.transparent import client_ipv4


@pytest.mark.parametrize("host,want", [("192.0.2.10", "192.0.2.10"),
                                       ("::ffff:192.0.2.10", "192.0.2.10"),
                                       ("2001:db8::1", None), ("", None)])
def test_client_ipv4(host: str, want: str | None) -> None:
    assert client_ipv4(host) == want
