"""Each selection algorithm, through the real pen process against real backends (docs/pen.md "How a server is chosen")."""
from __future__ import annotations

import socket
import time

import pytest

from support.procs import dead_port, fetch_name

# 1 process and --workers 2, each pure Python and with the compiled hot path
pytestmark = pytest.mark.usefixtures("each_worker_count", "each_build")


def test_roundrobin_distributes_in_c_pen_order(backends, pen_factory) -> None:
    bs = backends("name", "a", "b", "c", "d")
    pen = pen_factory(*[b.addr for b in bs], opts=["-r"])
    assert [fetch_name(pen) for _ in range(8)] == ["b", "c", "d", "a", "b", "c", "d", "a"]


def test_tracking_sticks_per_client_address(backends, pen_factory) -> None:
    bs = backends("name", "a", "b", "c")
    pen = pen_factory(*[b.addr for b in bs])
    first = [fetch_name(pen, source=f"127.0.0.{i}") for i in range(2, 6)]
    again = [fetch_name(pen, source=f"127.0.0.{i}") for i in range(2, 6)]
    assert first == again
    assert first == ["b", "c", "a", "b"]          # new clients round robin; each then sticks


def test_tracking_expiry_gives_a_fresh_choice(backends, pen_factory) -> None:
    """-T 1: a client away longer than the tracking time is a new client (C pen kept it)."""
    bs = backends("name", "a", "b", "c")
    pen = pen_factory(*[b.addr for b in bs], opts=["-T", "1"])
    assert fetch_name(pen) == "b"
    assert fetch_name(pen) == "b"
    time.sleep(2.1)      # the behaviour under test is the passage of time itself
    assert fetch_name(pen) == "c"


def test_hash_maps_addresses_like_c_pen(backends, pen_factory) -> None:
    """A.5 D4, three servers: the same address -> server mapping as C pen."""
    bs = backends("name", "x83", "x84", "x85")
    pen = pen_factory(*[b.addr for b in bs], opts=["-h"])
    hosts = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6",
             "127.1.0.1", "127.2.0.1"]
    got = [fetch_name(pen, source=h) for h in hosts]
    assert got == ["x85", "x83", "x84", "x85", "x83", "x84", "x83", "x84"]


def test_hash_with_roundrobin_mixes_in_the_port(backends, pen_factory) -> None:
    """-h -r: C pen's hash of address XOR port (network byte order, PR #18), per connection."""
    bs = backends("name", "x83", "x84", "x85")
    pen = pen_factory(*[b.addr for b in bs], opts=["-h", "-r"])
    for _ in range(12):
        with socket.socket() as s:
            s.settimeout(5)
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            s.connect(("127.0.0.1", pen.port))
            name = s.makefile("rb").readline().split()[1].decode()
        expected = (0x0100007F ^ (((port & 0xFF) << 8) | (port >> 8))) % 3
        assert name == ["x83", "x84", "x85"][expected]


def test_weight_spreads_held_connections(backends, pen_factory) -> None:
    """A.2 E3: weights 1 and 3, eight connections held open -> 2 and 6."""
    a, b = backends("name", "a", "b")
    pen = pen_factory(f"{a.addr}:0:0:1", f"{b.addr}:0:0:3", opts=["-W", "-r"])
    held = []
    names = []
    for _ in range(8):
        s = pen.connect()
        names.append(s.makefile("rb").readline().split()[1].decode())
        held.append(s)
    for s in held:
        s.close()
    assert sorted(names).count("a") == 2 and names.count("b") == 6


def test_emergency_server_when_all_fail(backends, pen_factory) -> None:
    (e,) = backends("name", "emergency")
    pen = pen_factory(f"127.0.0.1:{dead_port()}", f"127.0.0.1:{dead_port()}",
                      opts=["-e", e.addr])
    assert [fetch_name(pen) for _ in range(3)] == ["emergency"] * 3


def test_all_servers_down_closes_the_client(pen_factory) -> None:
    pen = pen_factory(f"127.0.0.1:{dead_port()}", f"127.0.0.1:{dead_port()}")
    with pen.connect() as s:
        assert s.recv(10) == b""


def test_stubborn_does_not_fail_over(backends, pen_factory) -> None:
    (a,) = backends("name", "a")
    pen = pen_factory(a.addr, f"127.0.0.1:{dead_port()}", opts=["-s"])
    assert [fetch_name(pen) for _ in range(3)] == ["FAIL"] * 3
    pen2 = pen_factory(a.addr, f"127.0.0.1:{dead_port()}", opts=["-s", "-r"])
    assert [fetch_name(pen2) for _ in range(3)] == ["FAIL", "a", "a"]
