"""The simple data-plane knobs, end to end on loopback (docs/dataplane.md;
issue 11): source, idle_timeout, tcp_fastclose, keepalive, dummy, listen, -m."""
from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.dataplane import LocalBackend, read_line
from support.procs import PENCTL, free_port, wait_for


@pytest.fixture
def backend() -> Iterator[callable]:
    started: list[LocalBackend] = []

    def start(mode: str) -> LocalBackend:
        b = LocalBackend(mode)
        started.append(b)
        return b

    yield start
    for b in started:
        b.stop()


@pytest.fixture
def pen(pen_factory):
    """The shared launcher (tests/conftest.py), under this file's name."""
    return pen_factory


def penctl(ctl: Path, *words: str, status: int = 0) -> str:
    """The reply; penctl's exit status must be `status` (1: pen refused the command)."""
    r = subprocess.run([str(PENCTL), str(ctl), *words], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == status, (words, r)
    return r.stdout


def servers_conns(ctl: Path) -> int:
    """`conn` of server 0 in the `servers` reply (C format)."""
    words = penctl(ctl, "servers").split()
    return int(words[words.index("conn") + 1])


def test_source_address_seen_by_backend(backend, pen) -> None:
    b = backend("peer")
    p = pen(b.addr, opts=["-o", "source 127.0.0.5"])
    with p.connect() as s:
        assert read_line(s).split()[1] == "127.0.0.5"
    q = pen(b.addr)
    with q.connect() as s:                       # without it: the kernel's choice
        assert read_line(s).split()[1] == "127.0.0.1"


def test_source_set_and_unset_at_run_time(backend, pen, tmp_path: Path) -> None:
    b = backend("peer")
    ctl = tmp_path / "ctl"
    p = pen(b.addr, opts=["-C", str(ctl)])
    assert penctl(ctl, "source", "127.0.0.9") == ""
    with p.connect() as s:
        assert read_line(s).split()[1] == "127.0.0.9"
    assert penctl(ctl, "source", "not-an-ip", status=1) == \
        "unable to set source address to 'not-an-ip'"
    with p.connect() as s:
        assert read_line(s).split()[1] == "127.0.0.1"


def test_idle_timeout_closes_idle_connections_on_time(backend, pen) -> None:
    b = backend("peer")
    p = pen(b.addr, opts=["-o", "idle_timeout 1"])
    idle = p.connect(timeout=10)
    busy = p.connect(timeout=10)
    assert read_line(idle).startswith("peer") and read_line(busy).startswith("peer")
    t0 = time.monotonic()
    stop = threading.Event()

    def keep_busy() -> None:
        while not stop.wait(0.3):
            try:
                busy.sendall(b"x")
                busy.recv(10)
            except OSError:
                return

    t = threading.Thread(target=keep_busy)
    t.start()
    try:
        assert idle.recv(10) == b""               # closed by pen ...
        elapsed = time.monotonic() - t0
        assert 0.9 <= elapsed <= 3.0, elapsed       # ... after 1 s (1 s granularity)
        time.sleep(0.5)
        stop.set()
        t.join(5)
        busy.sendall(b"still-here")                 # the busy one was never idle: still open
        assert busy.recv(100) == b"still-here"
    finally:
        stop.set()
        idle.close()
        busy.close()


@pytest.mark.parametrize("mode,late_arrives", [("off", True), ("up", True), ("down", False),
                                               ("both", False)])
def test_tcp_fastclose_client_side(backend, pen, mode: str, late_arrives: bool) -> None:
    """`down` (and `both`): the client's EOF closes both sides at once, so what the server
    sends after it never arrives; otherwise the half-closed stream delivers it."""
    b = backend("late")
    p = pen(b.addr, opts=["-o", f"tcp_fastclose {mode}"])
    with p.connect() as s:
        assert read_line(s) == "hello"
        s.shutdown(socket.SHUT_WR)
        rest = b""
        while chunk := s.recv(100):
            rest += chunk
    assert (rest == b"late\n") is late_arrives, rest


@pytest.mark.parametrize("mode,stays", [("off", True), ("down", True), ("up", False),
                                        ("both", False)])
def test_tcp_fastclose_server_side(backend, pen, tmp_path: Path, mode: str, stays: bool) -> None:
    """`up` (and `both`): the server's EOF closes the whole connection; otherwise pen keeps
    the client's direction open (half-close) until the client closes too."""
    b = backend("halfclose")
    ctl = tmp_path / "ctl"
    p = pen(b.addr, opts=["-C", str(ctl), "-o", f"tcp_fastclose {mode}"])
    with p.connect() as s:
        assert read_line(s) == "bye"
        assert s.recv(10) == b""                     # the server's EOF reached us
        if stays:
            time.sleep(0.5)
            assert servers_conns(ctl) == 1
        else:
            wait_for(lambda: servers_conns(ctl) == 0, 5, what="pen to close the connection")


def _keepalive_on_upstream(port: int) -> bool:
    """ss -o shows timer:(keepalive,...) on a socket with SO_KEEPALIVE."""
    out = subprocess.run(["ss", "-tno", "state", "established", f"( dport = :{port} )"],
                         capture_output=True, text=True, timeout=10).stdout
    return "keepalive" in out


@pytest.mark.parametrize("on", [True, False])
def test_keepalive_on_upstream_sockets(backend, pen, on: bool) -> None:
    b = backend("peer")
    p = pen(b.addr, opts=["-o", "keepalive"] if on else [])
    with p.connect() as s:
        assert read_line(s).startswith("peer")
        assert _keepalive_on_upstream(b.port) is on


def test_dummy_web_server(pen) -> None:
    p = pen("127.0.0.1:9", opts=["-o", "dummy"])         # the server is never contacted
    with p.connect() as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := s.recv(1000):
            data += chunk
    assert data == (b"HTTP/1.1 200 OK\r\nContent-Length: 15\r\nContent-Type: text/html\r\n"
                    b"\r\nUlric was here.")


def test_listen_moves_the_listener(backend, pen, tmp_path: Path) -> None:
    b = backend("peer")
    ctl = tmp_path / "ctl"
    pen(b.addr, opts=["-C", str(ctl)])
    new = free_port()
    assert penctl(ctl, "listen", f"127.0.0.1:{new}") == f"127.0.0.1:{new}\n"
    with socket.create_connection(("127.0.0.1", new), timeout=5) as s:
        assert read_line(s).startswith("peer")
    assert penctl(ctl, "listen") == f"127.0.0.1:{new}\n"


def test_multi_accept_one_still_serves_a_burst(backend, pen) -> None:
    """-m 1: one accept per readiness event; a burst of 50 clients is still all served."""
    b = backend("peer")
    p = pen(b.addr, opts=["-m", "1"])
    socks = [p.connect(timeout=10) for _ in range(50)]
    try:
        assert all(read_line(s).startswith("peer 127.0.0.1") for s in socks)
    finally:
        for s in socks:
            s.close()
