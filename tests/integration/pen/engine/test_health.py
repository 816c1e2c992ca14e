"""Active health checks in-process (pen/engine/health.py; penctl `server N check`, docs/pen.md
"How a server is chosen"): accepting waits for the first probes, rise and fall count probes
on the fake clock, HTTP verdicts, and a probe that never connects times out without real time
passing (tests/support/engine.py)."""
from __future__ import annotations

import socket

from pen.engine.balancer import Balancer
from pen.engine.control_server import interpreter_for
from pen.engine.reactor import EPOLLIN, Reactor
from support.engine import (EchoBackend, FakeClock, Reader, after_test, balancer, client, drive,
                            full_listener)


def check(bal: Balancer, line: str) -> None:
    reply = interpreter_for(bal).run(line)
    assert not reply.error, reply.error


def served(bal: Balancer, what: str) -> None:
    c = client(bal)
    c.sendall(b"hi")
    r = Reader(c)
    drive(bal, lambda: r.poll() or r.data == b"hi", what)
    c.close()


class HttpBackend:
    """Answers every request with `status` (and keeps the request lines it read), then closes."""

    def __init__(self, reactor: Reactor, status: bytes) -> None:
        self.reactor, self.status = reactor, status
        self.sock = socket.socket()
        after_test(self.sock.close)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.setblocking(False)
        self.requests: list[bytes] = []
        reactor.add(self.sock.fileno(), EPOLLIN, self.on_accept)

    @property
    def spec(self) -> str:
        return f"127.0.0.1:{self.sock.getsockname()[1]}"

    def on_accept(self, ev: int) -> None:
        conn, _ = self.sock.accept()
        after_test(conn.close)
        conn.setblocking(False)
        self.reactor.add(conn.fileno(), EPOLLIN, lambda ev: self.on_request(conn))

    def on_request(self, conn: socket.socket) -> None:
        data = conn.recv(4096)
        if b"\r\n\r\n" not in data:
            return
        self.requests.append(data.split(b"\r\n", 1)[0])
        conn.sendall(b"HTTP/1.0 " + self.status + b" X\r\nContent-Length: 0\r\n\r\n")
        self.reactor.remove(conn.fileno())
        conn.close()


def test_accepting_waits_for_the_first_probes_and_fall_takes_a_server_down() -> None:
    clock = FakeClock()
    bal = balancer(clock=clock, checks=True, roundrobin=True)
    a, b = EchoBackend(bal.reactor), EchoBackend(bal.reactor)
    bal.apply_server_spec(0, a.spec)
    bal.apply_server_spec(1, b.spec)
    for i in (0, 1):
        check(bal, f"server {i} check tcp interval 2 timeout 1 rise 1 fall 2")
    assert bal.health is not None and not bal.accepting
    early = client(bal)                        # waits in the listen backlog meanwhile
    early.sendall(b"early")
    r = Reader(early)
    bal.health.start()
    drive(bal, lambda: r.poll() or r.data == b"early", "the early client served once proven")
    srv0 = bal.state.servers.get(0)
    assert srv0.health is not None and srv0.health.up and srv0.health.last == "connect ok"
    early.close()

    bal.reactor.remove(a.sock.fileno())        # server 0 stops listening
    a.sock.close()
    clock.advance(2.0)
    drive(bal, lambda: srv0.health.checks == 2, "the second probe of server 0")
    assert srv0.health.up and srv0.health.failures == 1     # fall 2: one failure is not enough
    clock.advance(2.0)
    drive(bal, lambda: srv0.health.checks == 3, "the third probe of server 0")
    assert not srv0.health.up and srv0.health.last == "connect: ECONNREFUSED"
    before = b.accepted
    for k in range(3):                         # round robin skips the server that is down
        served(bal, f"client {k} on server 1")
    assert b.accepted == before + 3 and srv0.failures == 0


def test_http_check_counts_rise_from_a_503_to_a_200() -> None:
    clock = FakeClock()
    bal = balancer(clock=clock, checks=True)
    web = HttpBackend(bal.reactor, b"503")
    bal.apply_server_spec(0, web.spec)
    check(bal, "server 0 check http /healthz interval 1 timeout 0.5 rise 2 fall 1")
    assert bal.health is not None
    bal.health.start()
    srv = bal.state.servers.get(0)
    assert srv.health is not None
    drive(bal, lambda: srv.health.proven, "the first probe")
    assert not srv.health.up and srv.health.last == "HTTP 503"
    assert web.requests == [b"GET /healthz HTTP/1.0"]
    web.status = b"200"
    clock.advance(1.0)
    drive(bal, lambda: srv.health.checks == 2, "the second probe")
    assert not srv.health.up and srv.health.successes == 1  # rise 2: not up yet
    clock.advance(1.0)
    drive(bal, lambda: srv.health.checks == 3, "the third probe")
    assert srv.health.up and srv.health.changed_at == clock()


def test_a_probe_that_never_connects_times_out_on_the_fake_clock() -> None:
    full, fillers = full_listener()
    clock = FakeClock()
    bal = balancer(f"127.0.0.1:{full.getsockname()[1]}", clock=clock, checks=True)
    check(bal, "server 0 check tcp interval 5 timeout 2")
    assert bal.health is not None
    bal.health.start()
    srv = bal.state.servers.get(0)
    assert srv.health is not None
    for _ in range(20):                        # real time passes, the fake clock does not
        bal.reactor.run_once(0.005)
    assert not srv.health.proven and bal.health.holding() and not bal.accepting
    clock.advance(2.0)
    drive(bal, lambda: srv.health.proven, "the probe's timeout")
    assert not srv.health.up and srv.health.last == "timeout"
    drive(bal, lambda: bal.accepting, "accepting once every first probe is in")
    full.close()
    for f in fillers:
        f.close()
