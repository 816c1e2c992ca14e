"""C pen 0.34.1 and pen-ha side by side: the same scenario, the same backend per connection.

C pen runs with -P (poll) where a dead server is involved: its default epoll loop drops
clients on refused connects (docs/compatibility.md), a bug we fix rather than reproduce.
"""
from __future__ import annotations

import socket
import subprocess

import pytest

from support.procs import C_PEN, PEN, Backend, dead_port, free_port, listening, stop_process, wait_for

pytestmark = [pytest.mark.compat,
              pytest.mark.skipif(not C_PEN.exists(), reason="Debian's pen is not installed")]


class Running:
    """A pen (C or ours) on a free TCP port, started the same way for both."""

    def __init__(self, exe, opts: list[str], specs: list[str]) -> None:
        for _ in range(5):
            self.port = free_port()
            self.proc = subprocess.Popen([str(exe), "-f", *opts, f"127.0.0.1:{self.port}", *specs],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if self._up():
                return
            self.stop()
        raise RuntimeError(f"{exe} did not start")

    def _up(self) -> bool:
        def up() -> bool:
            return self.proc.poll() is not None or listening(self.port)
        try:
            wait_for(up, 10, what="pen listening")
        except TimeoutError:
            return False
        return self.proc.poll() is None

    def stop(self) -> None:
        stop_process(self.proc, timeout=5)


def one(port: int, source: str | None = None, hold: list | None = None) -> str:
    s = socket.socket()
    s.settimeout(5)
    try:
        if source:
            s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        line = s.makefile("rb").readline()
    except OSError:
        s.close()
        return "FAIL"
    if hold is not None:
        hold.append(s)
    else:
        s.close()
    return line.split()[1].decode() if line.startswith(b"served-by") else "FAIL"


def both(opts: list[str], specs: list[str], script, c_opts: list[str] = ()) -> tuple[list, list]:
    results = []
    for exe, extra in ((C_PEN, list(c_opts)), (PEN, [])):
        pen = Running(exe, [*extra, *opts], specs)
        held: list[socket.socket] = []
        try:
            results.append(script(pen.port, held))
        finally:
            for s in held:
                s.close()
            pen.stop()
    return results[0], results[1]


@pytest.fixture(scope="module")
def four():
    bs = [Backend("name", f"b{i}") for i in range(4)]
    yield bs
    for b in bs:
        b.stop()


def addrs(bs) -> list[str]:
    return [b.addr for b in bs]


def test_roundrobin(four) -> None:
    c, ours = both(["-r"], addrs(four), lambda p, h: [one(p) for _ in range(9)])
    assert c == ours and c[:4] == ["b1", "b2", "b3", "b0"]


def test_tracking_many_clients(four) -> None:
    script = lambda p, h: [one(p, f"127.0.0.{2 + i % 5}") for i in range(15)]  # noqa: E731
    c, ours = both([], addrs(four), script)
    assert c == ours


def test_hash(four) -> None:
    hosts = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.9", "127.1.0.1", "127.2.0.1",
             "127.3.4.5"]
    c, ours = both(["-h"], addrs(four[:3]), lambda p, h: [one(p, x) for x in hosts])
    assert c == ours


def test_weight_held_connections(four) -> None:
    specs = [f"{four[0].addr}:0:0:1", f"{four[1].addr}:0:0:3", f"{four[2].addr}:0:0:2"]
    c, ours = both(["-W", "-r"], specs, lambda p, h: [one(p, hold=h) for _ in range(12)])
    assert sorted(c) == sorted(ours)
    assert c == ours


def test_prio_via_O(four) -> None:
    specs = [f"{four[0].addr}:0:0:0:5", f"{four[1].addr}:0:0:0:1", f"{four[2].addr}:0:0:0:3"]
    c, ours = both(["-O", "prio", "-r"], specs, lambda p, h: [one(p) for _ in range(4)])
    assert c == ours == ["b1"] * 4


def test_soft_and_hard_limits_sticky(four) -> None:
    specs = [four[0].addr, f"{four[1].addr}:1:2"]
    script = lambda p, h: [one(p, "127.0.0.2", hold=h) for _ in range(3)] + \
        [one(p, "127.0.0.3", hold=h)]  # noqa: E731
    c, ours = both([], specs, script)
    assert c == ours == ["b1", "b1", "b0", "b0"]


def test_failover_with_dead_server_roundrobin(four) -> None:
    specs = [four[0].addr, f"127.0.0.1:{dead_port()}", four[1].addr]
    c, ours = both(["-r"], specs, lambda p, h: [one(p) for _ in range(7)], c_opts=["-P"])
    assert c == ours


def test_failover_with_dead_server_tracking(four) -> None:
    specs = [four[0].addr, f"127.0.0.1:{dead_port()}", four[1].addr]
    c, ours = both([], specs, lambda p, h: [one(p) for _ in range(4)], c_opts=["-P"])
    assert c == ours == ["b1"] * 4


def test_emergency(four) -> None:
    specs = [f"127.0.0.1:{dead_port()}", f"127.0.0.1:{dead_port()}"]
    c, ours = both(["-e", four[3].addr], specs, lambda p, h: [one(p) for _ in range(3)],
                   c_opts=["-P"])
    assert c == ours == ["b3"] * 3


def test_stubborn_roundrobin(four) -> None:
    specs = [four[0].addr, f"127.0.0.1:{dead_port()}"]
    c, ours = both(["-s", "-r"], specs, lambda p, h: [one(p) for _ in range(4)], c_opts=["-P"])
    assert c == ours == ["FAIL", "b0", "b0", "b0"]


def test_abuse_server_and_client_acl(four) -> None:
    opts = ["-r", "-B", four[3].addr, "-O", "acl 1 deny 127.0.0.2", "-O", "client_acl 1"]
    script = lambda p, h: [one(p, "127.0.0.2"), one(p, "127.0.0.3"), one(p, "127.0.0.2")]  # noqa
    c, ours = both(opts, addrs(four[:2]), script)
    assert c == ours and c[0] == "b3" and c[2] == "b3"


def test_server_acl(four) -> None:
    opts = ["-r", "-O", "acl 1 deny 127.0.0.1", "-O", "server 0 acl 1"]
    c, ours = both(opts, addrs(four[:2]), lambda p, h: [one(p) for _ in range(4)])
    assert c == ours == ["b1"] * 4
