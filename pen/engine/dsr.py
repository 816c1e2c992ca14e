"""DSR shell (issue 11) — being written."""
from __future__ import annotations


class DsrError(Exception):
    pass


def start(bal, ifname: str, listen: str) -> None:
    raise DsrError("DSR is not available yet")
