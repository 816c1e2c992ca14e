"""UDP mode in-process (pen/engine/udp.py; pen(1) -U): a flow sticks to its server, replies
come back from the listening socket, an ICMP port unreachable fails the flow over with its
unanswered datagram re-sent, and idle flows expire on the fake clock (tests/support/engine.py).
A flow that finds every server full waits in the queue (queue_max) and is sent on, or
forgotten, without leaving a place reserved on the server (docs/pen.md "Queueing")."""
from __future__ import annotations

import socket

from pen.core.balance.dispatch import DEFAULT_FLOW_IDLE
from pen.engine.balancer import Balancer
from support.engine import FakeClock, UdpEcho, after_test, balancer, drive
from support.procs import free_port


def udp_client(bal: Balancer) -> socket.socket:
    assert bal.listen_sock is not None
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    after_test(c.close)
    c.bind(("127.0.0.1", 0))
    c.setblocking(False)
    c.connect(bal.listen_sock.getsockname())
    return c


def answer(bal: Balancer, c: socket.socket, what: str) -> bytes:
    """Drive the engine until `c` has a datagram; it must come from the listening socket."""
    got: list[tuple[bytes, tuple]] = []

    def received() -> bool:
        try:
            got.append(c.recvfrom(65535))
        except BlockingIOError:
            return False
        return True

    drive(bal, received, what)
    assert bal.listen_sock is not None
    data, source = got[0]
    assert source == bal.listen_sock.getsockname(), "a reply must come from pen's own address"
    return data


def two_servers() -> tuple[FakeClock, Balancer, UdpEcho, UdpEcho]:
    """A UDP balancer in round robin over servers A (0) and B (1)."""
    clock = FakeClock()
    bal = balancer(clock=clock, udp=True, roundrobin=True)
    a, b = UdpEcho(bal.reactor, b"A"), UdpEcho(bal.reactor, b"B")
    bal.apply_server_spec(0, a.spec)
    bal.apply_server_spec(1, b.spec)
    return clock, bal, a, b


def test_a_flow_sticks_to_its_server_and_the_next_flow_goes_round() -> None:
    clock, bal, a, b = two_servers()
    c1 = udp_client(bal)
    replies = []
    for k in range(3):
        c1.send(b"d%d" % k)
        replies.append(answer(bal, c1, f"reply {k} of the first flow"))
    first = replies[0][:1]
    assert replies == [first + b":d0", first + b":d1", first + b":d2"]
    c2 = udp_client(bal)
    c2.send(b"x")
    other = b"B" if first == b"A" else b"A"
    assert answer(bal, c2, "the second flow's reply") == other + b":x"
    assert bal.udp is not None and len(bal.udp.flows) == 2
    served = a if first == b"A" else b
    assert [d for d, _ in served.got] == [b"d0", b"d1", b"d2"]
    assert len({addr for _, addr in served.got}) == 1, "one upstream socket per flow"
    srv = bal.state.servers.get(0 if first == b"A" else 1)
    assert (srv.sx, srv.rx) == (6, 12)
    c1.close()
    c2.close()


def test_port_unreachable_blacklists_and_resends_the_unanswered_datagram() -> None:
    """Server 0 has nobody on its port: the kernel's ICMP port unreachable arrives on the flow's
    connected socket as ECONNREFUSED; pen blacklists server 0 and sends the datagram to
    server 1 (C pen never noticed a dead UDP backend: docs/compatibility.md)."""
    clock = FakeClock(3000.0)
    bal = balancer(f"127.0.0.1:{free_port(socket.SOCK_DGRAM)}", clock=clock, udp=True,
                   roundrobin=True)
    b = UdpEcho(bal.reactor, b"B")
    bal.apply_server_spec(1, b.spec)
    for k in range(2):                        # round robin: one of the two flows tries server 0
        c = udp_client(bal)
        c.send(b"ping%d" % k)
        assert answer(bal, c, f"flow {k} answered by server 1") == b"B:ping%d" % k
        c.close()
    dead = bal.state.servers.get(0)
    assert dead.failures == 1 and dead.blacklisted_at == 3000.0
    assert sorted(d for d, _ in b.got) == [b"ping0", b"ping1"]


def test_an_idle_flow_expires_on_the_clock_and_its_client_is_chosen_again() -> None:
    clock, bal, a, b = two_servers()
    c = udp_client(bal)
    c.send(b"one")
    first = answer(bal, c, "the first reply")[:1]
    assert bal.udp is not None and len(bal.udp.flows) == 1
    clock.advance(DEFAULT_FLOW_IDLE - 2)
    bal.reactor.run_once(0.005)               # housekeeping runs; the flow is not idle enough
    assert len(bal.udp.flows) == 1
    c.send(b"two")
    assert answer(bal, c, "the second reply")[:1] == first
    clock.advance(DEFAULT_FLOW_IDLE + 2)
    drive(bal, lambda: bal.udp is not None and not bal.udp.flows, "the idle flow expired")
    assert bal.nconns == 0
    c.send(b"three")                          # a new flow: round robin picks the other server
    assert answer(bal, c, "the reply after expiry")[:1] == (b"B" if first == b"A" else b"A")
    c.close()


def one_served_one_waiting(**settings: object) -> tuple[FakeClock, Balancer, socket.socket]:
    """A UDP balancer over one server that takes one flow (`:1`, answering `S:` + datagram):
    flow a is served, then flow b finds the server full and waits; returns b's client."""
    clock = FakeClock()
    bal = balancer(clock=clock, udp=True, **settings)
    echo = UdpEcho(bal.reactor, b"S")
    bal.apply_server_spec(0, echo.spec + ":1")
    a, b = udp_client(bal), udp_client(bal)
    a.send(b"from a")
    assert answer(bal, a, "a's flow served") == b"S:from a"
    b.send(b"from b")
    drive(bal, lambda: len(bal.dispatcher.queue) == 1, "b's flow waiting (the server takes one)")
    return clock, bal, b


def test_a_waiting_flow_is_sent_on_when_the_server_has_room_and_releases_nothing() -> None:
    clock, bal, b = one_served_one_waiting(queue_max=4, queue_timeout=30.0, idle_timeout=10)
    d, srv = bal.dispatcher, bal.state.servers.get(0)
    assert (srv.c, srv.pending, d.pending, d.nconns) == (1, 0, 0, 2)
    clock.advance(11)                        # a's flow goes idle and expires: b gets its place
    assert answer(bal, b, "b's kept datagram sent on and answered") == b"S:from b"
    assert not d.queue
    assert (srv.c, srv.pending, d.pending, d.nconns) == (1, 0, 0, 1)
    clock.advance(11)                        # b's flow expires too: nothing stays counted
    drive(bal, lambda: d.nconns == 0, "b's flow expired")
    assert (srv.c, srv.pending, d.pending) == (0, 0, 0)
    b.send(b"b again")                       # the server is usable: not skipped as full
    assert answer(bal, b, "a new flow served") == b"S:b again"


def test_a_flow_that_waits_past_queue_timeout_is_forgotten_and_frees_its_queue_place() -> None:
    clock, bal, _ = one_served_one_waiting(queue_max=1, queue_timeout=2.0)
    d, srv = bal.dispatcher, bal.state.servers.get(0)
    clock.advance(3)
    bal.housekeeping()                       # once a second in pen: the queue's expiry
    drive(bal, lambda: d.nconns == 1, "b's flow refused after queue_timeout")
    assert bal.udp is not None
    assert not d.queue and len(bal.udp.flows) == 1 and d.refused_total == 1
    assert (srv.c, srv.pending, d.pending) == (1, 0, 0)
