"""The request log (-l FILE) of C pen 0.34.1 and pen-ha side by side (docs/pen.md "Request log (-l)", issue 20).

C writes every byte below 128 as it is and bytes of 128 and more as '.'; pen-ha does the same
except for the control bytes below 32, which it writes as '.' (docs/compatibility.md: a
client's ESC sequence would reach the operator's terminal, a TAB could forge the log_ports
field, a NUL turns the file binary for grep).
"""
from __future__ import annotations

import socket
import time

import pytest

from support.procs import C_PEN, PEN, Backend, Pen, free_port, listening, wait_for

pytestmark = [pytest.mark.compat,
              pytest.mark.skipif(not C_PEN.exists(), reason="Debian's pen is not installed")]

SAME = [b"GET /plain HTTP/1.1\r\nHost: x\r\n\r\n", b"caf\xc3\xa9 \x80\xff and DEL\x7f!\n",
        b"A" * 150 + b"\n", b"first line\rsecond\n"]
CONTROLS = b"A\tB\x01C\x1bD\x00E\x0bF\x0cG\n"


def logged(exe, payloads: list[bytes], tmp_path) -> list[bytes]:
    echo = Backend("echo", "e")
    log = tmp_path / f"{exe.name}-{time.monotonic_ns()}.log"
    listen = f"127.0.0.1:{free_port()}" if exe == C_PEN else None
    pen = Pen(echo.addr, opts=["-l", str(log)], exe=exe, listen=listen)
    try:
        wait_for(lambda: listening(pen.port), 10, what="pen listening")
        for data in payloads:
            with socket.create_connection(("127.0.0.1", pen.port), timeout=5) as s:
                s.sendall(data)
                got = b""
                while len(got) < len(data):
                    got += s.recv(65536)
    finally:
        pen.stop()                   # C pen's log is stdio-buffered: flushed on exit
        echo.stop()
    return [line.split(b" ", 3)[3] for line in log.read_bytes().splitlines(keepends=False)
            if line.count(b" ") >= 3]


def test_request_field_as_c_writes_it(tmp_path) -> None:
    theirs, ours = logged(C_PEN, SAME, tmp_path), logged(PEN, SAME, tmp_path)
    assert ours == theirs
    assert theirs[1] == b"caf.. .. and DEL\x7f!" and len(theirs[2]) == 100


def test_control_bytes_are_dots_in_ours_only(tmp_path) -> None:
    (theirs,), (ours,) = logged(C_PEN, [CONTROLS], tmp_path), logged(PEN, [CONTROLS], tmp_path)
    assert theirs == CONTROLS.rstrip(b"\n")
    assert ours == bytes(b if 32 <= b < 128 else ord(".") for b in theirs)
