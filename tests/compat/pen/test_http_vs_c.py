"""-H side by side with C pen 0.34.1: what reaches the server (issue 20)."""
from __future__ import annotations

import socket

import pytest

from support.procs import C_PEN, PEN, Backend, Pen, free_port, listening, wait_for

pytestmark = [pytest.mark.compat,
              pytest.mark.skipif(not C_PEN.exists(), reason="Debian's pen is not installed")]

CRLF = b"GET / HTTP/1.0\r\nHost: x\r\n\r\n"
BARE_LF = b"GET / HTTP/1.0\nHost: x\n\n"
ADDED = b"X-Forwarded-Proto: http\r\nX-Forwarded-For: 127.0.0.1"


def forwarded(exe, request: bytes) -> bytes:
    """What an echo server got from pen -H for `request`, read back up to the head's end (no
    half-close: C pen loses data after a client's shutdown, docs/compatibility.md)."""
    echo = Backend("echo", "e")
    listen = f"127.0.0.1:{free_port()}" if exe == C_PEN else None
    pen = Pen(echo.addr, opts=["-H"], exe=exe, listen=listen)
    try:
        wait_for(lambda: listening(pen.port), 10, what="pen listening")
        with socket.create_connection(("127.0.0.1", pen.port), timeout=5) as s:
            s.sendall(request)
            out = b""
            while not out.endswith((b"\n\n", b"\r\n\r\n")):
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        return out
    finally:
        pen.stop()
        echo.stop()


def test_crlf_head_as_c_pen() -> None:
    assert forwarded(PEN, CRLF) == forwarded(C_PEN, CRLF) == \
        b"GET / HTTP/1.0\r\nHost: x\r\n" + ADDED + b"\r\n\r\n"


def test_bare_lf_head_keeps_its_line_endings() -> None:
    """C writes CRLF lines into a bare-LF head (mixed endings); pen-ha ends the added lines
    as the head's lines end (docs/compatibility.md)."""
    assert forwarded(C_PEN, BARE_LF) == b"GET / HTTP/1.0\nHost: x\r\n" + ADDED + b"\n\n"
    assert forwarded(PEN, BARE_LF) == b"GET / HTTP/1.0\nHost: x\n" + \
        ADDED.replace(b"\r\n", b"\n") + b"\n\n"
