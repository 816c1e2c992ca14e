"""Balancer state for the pure tests: a PenState with servers at given addresses."""
from __future__ import annotations

import socket

from pen.core.balance.state import PenState
from pen.settings import Settings


def state(*ports: int, host: str = "192.0.2.1", **settings: object) -> PenState:
    """A PenState whose servers 0, 1, ... listen on `host` at `ports`, with these settings."""
    st = PenState(Settings(**settings))  # type: ignore[arg-type]
    for i, port in enumerate(ports):
        st.servers.ensure(i).set_address(socket.AF_INET, host, port, (host, port))
    return st
