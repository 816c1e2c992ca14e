"""pen's request-log formats (spec/pen-0.34.md §5.1, §5.2).

Placeholder API used by the data plane; the log-tools work owns and extends this module.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class PenEntry:
    """One logged request chunk, with everything pen knows about its connection."""

    client: str        # client IP text ("" for a unix-socket client)
    client_port: int
    server: str        # server IP text (or unix path)
    server_port: int
    local_port: int    # pen's own source port towards the server (0 if unknown)
    epoch: int         # wall-clock seconds
    request: str       # request_text() of the chunk


def request_text(chunk: bytes) -> str:
    """The chunk up to the first CR or LF, at most 100 bytes, non-printable bytes as '.' (§5.1)."""
    end = len(chunk)
    for sep in (b"\r", b"\n"):
        i = chunk.find(sep, 0, end)
        if i != -1:
            end = i
    head = chunk[: min(end, 100)]
    return "".join(chr(b) if 32 <= b < 127 else "." for b in head)


def file_line(e: PenEntry) -> str:
    """`CLIENT_IP EPOCH_SECONDS SERVER_IP FIRST_LINE\\n` (§5.1)."""
    return f"{e.client} {e.epoch} {e.server} {e.request}\n"


def net_datagram(e: PenEntry) -> bytes:
    """`+ CLIENT_IP SERVER_IP FIRST_LINE\\n`, at most 1024 bytes (§5.2)."""
    return f"+ {e.client} {e.server} {e.request}\n".encode("ascii", "replace")[:1024]
