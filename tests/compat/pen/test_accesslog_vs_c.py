"""C pen 0.34.1 and pen-ha side by side: which client reads become access-log (-l) lines.

Issue 20's finding: a first read without a line ending on a non-HTTP stream was never logged
by pen-ha (held while it might still become an HTTP request line), where C logs every read.
"""
from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest

from support.procs import C_PEN, PEN, Backend, free_port, listening, stop_process, wait_for

pytestmark = [pytest.mark.compat,
              pytest.mark.skipif(not C_PEN.exists(), reason="Debian's pen is not installed")]

TCP_SCRIPTS = [
    [b"partial", b" rest\n"],          # a line in two reads, the first without its line end
    [b"PING"],                          # one read, no newline, then close
    [b"GET /nolineend"],                # looks like HTTP, never completes, then close
    [b"GET / HTTP/1.0\r\n\r\n"],        # a real request: one line for it
]


def requests_logged(path: Path) -> list[str]:
    """The request fields of the log's lines (time stamp and addresses dropped); read after
    pen stopped (C pen writes its log through stdio buffers)."""
    text = path.read_text(errors="replace") if path.exists() else ""
    return [ln.split(" ", 3)[3] for ln in text.splitlines() if ln.count(" ") >= 3]


def run_tcp(exe: Path, backend: str, log: Path) -> list[str]:
    port = free_port()
    proc = subprocess.Popen([str(exe), "-f", "-l", str(log), f"127.0.0.1:{port}", backend],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: listening(port), 10, what="pen listening")
        for script in TCP_SCRIPTS:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                for part in script:
                    s.sendall(part)
                    time.sleep(0.4)        # separate reads, as the printf; sleep did
                s.shutdown(socket.SHUT_WR)
                while s.recv(4096):
                    pass
    finally:
        stop_process(proc)
    return requests_logged(log)


def run_udp(exe: Path, backend: str, log: Path) -> list[str]:
    port = free_port(socket.SOCK_DGRAM)
    proc = subprocess.Popen([str(exe), "-f", "-U", "-l", str(log), f"127.0.0.1:{port}", backend],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.5)
            for payload in (b"partial", b" rest\n", b"PING"):
                for _ in range(20):            # until pen is up and the echo comes back
                    s.sendto(payload, ("127.0.0.1", port))
                    try:
                        if s.recv(4096) == payload:
                            break
                    except OSError:
                        continue
    finally:
        stop_process(proc)
    return requests_logged(log)


def side_by_side(mode: str, run, tmp_path: Path) -> tuple[list[str], list[str]]:
    """The same script through C pen, then ours, against one backend: both logs."""
    backend = Backend(mode, "b")
    try:
        return (run(C_PEN, backend.addr, tmp_path / "c.log"),
                run(PEN, backend.addr, tmp_path / "ours.log"))
    finally:
        backend.stop()


def test_tcp_reads_logged_like_c(tmp_path: Path) -> None:
    c, ours = side_by_side("echo", run_tcp, tmp_path)
    assert c == ["partial", " rest", "PING", "GET /nolineend", "GET / HTTP/1.0"]
    assert ours == c


def test_udp_datagrams_logged_like_c(tmp_path: Path) -> None:
    c, ours = side_by_side("udp", run_udp, tmp_path)
    # retries until pen is up may repeat a datagram: compare each one's first appearance
    assert list(dict.fromkeys(c)) == ["partial", " rest", "PING"]
    assert list(dict.fromkeys(ours)) == list(dict.fromkeys(c))
