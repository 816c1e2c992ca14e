"""Failover, blacklisting, connect timeouts, limits (pen(1) -b -t -e -x; docs/pen.md "How a server is chosen")."""
from __future__ import annotations

import socket
import threading
import time
import pytest

from support.procs import dead_port, fetch_name

# 1 process and --workers 2, each pure Python and with the compiled hot path
pytestmark = pytest.mark.usefixtures("each_worker_count", "each_build")


def blackhole() -> tuple[socket.socket, list[socket.socket], str]:
    """A listener whose backlog is full: further SYNs are dropped, so connects time out."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(0)
    addr = lsock.getsockname()
    fillers = []
    for _ in range(4):
        f = socket.socket()
        f.setblocking(False)
        f.connect_ex(addr)
        fillers.append(f)
    return lsock, fillers, f"127.0.0.1:{addr[1]}"


def test_refused_connect_blacklists_and_fails_over_in_tracking_mode(backends, pen_factory) -> None:
    """C 0.34.1 with epoll dropped these clients (FAIL FAIL FAIL FAIL, docs/compatibility.md); we fail over."""
    a, b = backends("name", "a", "b")
    pen = pen_factory(a.addr, f"127.0.0.1:{dead_port()}", b.addr)
    assert [fetch_name(pen) for _ in range(4)] == ["b"] * 4


def test_connect_timeout_blacklists_and_fails_over(backends, pen_factory) -> None:
    """A.4 N: -t 1 over [a, blackhole, b]: the first client waits ~1 s, then the server is
    blacklisted and nobody waits."""
    a, b = backends("name", "a", "b")
    lsock, fillers, hole = blackhole()
    try:
        pen = pen_factory(a.addr, hole, b.addr, opts=["-t", "1", "-b", "60"])
        t0 = time.monotonic()
        assert fetch_name(pen) == "b"
        first = time.monotonic() - t0
        t1 = time.monotonic()
        assert [fetch_name(pen, source="127.0.0.2") for _ in range(3)] == ["b", "b", "b"]
        rest = time.monotonic() - t1
        assert 0.9 <= first < 2.5, first
        assert rest < 0.9, rest
    finally:
        for f in fillers:
            f.close()
        lsock.close()


def test_blacklist_expires_and_the_server_is_used_again(backends, pen_factory) -> None:
    """-b 1: after the blacklist time a recovered server is chosen again by round robin."""
    a, b = backends("name", "a", "b")
    port = dead_port()
    pen = pen_factory(a.addr, f"127.0.0.1:{port}", b.addr, opts=["-r", "-b", "1"])
    seq = [fetch_name(pen) for _ in range(4)]
    assert "FAIL" not in seq and set(seq) == {"a", "b"}
    # bring a backend up on the dead port; after the blacklist time it is used again
    from support.procs import Backend
    revived = Backend("name", "revived", "--port", str(port))
    try:
        deadline = time.monotonic() + 5
        seen = set()
        while time.monotonic() < deadline and "revived" not in seen:
            seen.add(fetch_name(pen))
            time.sleep(0.05)
        assert "revived" in seen
    finally:
        revived.stop()


def test_abuse_server_gets_denied_clients(backends, pen_factory) -> None:
    """The client ACL needs acl/client_acl commands: -O runs them at start-up."""
    a, abuse = backends("name", "a", "abuse")
    pen = pen_factory(a.addr, opts=["-B", abuse.addr, "-O", "acl 1 deny 127.0.0.2",
                                    "-O", "client_acl 1"])
    assert fetch_name(pen, source="127.0.0.2") == "abuse"
    assert fetch_name(pen, source="127.0.0.3") == "a"


def test_soft_and_hard_limits(backends, pen_factory) -> None:
    """A.2 H: tracking, [a, b max 1 hard 2], one client holding connections: b, b (sticky,
    up to hard), then a; a new client while b is at its soft limit goes to a."""
    a, b = backends("name", "a", "b")
    pen = pen_factory(a.addr, f"{b.addr}:1:2")
    held = []

    def hold(source: str) -> str:
        s = pen.connect(source=source)
        held.append(s)
        return s.makefile("rb").readline().split()[1].decode()

    try:
        assert [hold("127.0.0.2") for _ in range(3)] == ["b", "b", "a"]
        assert hold("127.0.0.3") == "a"
    finally:
        for s in held:
            s.close()


def test_connection_limit_queues_in_the_backlog(backends, pen_factory) -> None:
    """A.10: -x 2 with two connections held: the third waits, and succeeds once one closes."""
    (a,) = backends("name", "a")
    pen = pen_factory(a.addr, opts=["-x", "2"])
    held = [pen.connect(), pen.connect()]
    for s in held:
        assert s.makefile("rb").readline().startswith(b"served-by")
    result: list[str] = []
    t = threading.Thread(target=lambda: result.append(fetch_name(pen, timeout=10)))
    t0 = time.monotonic()
    t.start()
    time.sleep(0.5)      # the third client must still be waiting now
    assert not result
    held[0].close()
    t.join(10)
    assert result == ["a"] and time.monotonic() - t0 >= 0.5
    held[1].close()
