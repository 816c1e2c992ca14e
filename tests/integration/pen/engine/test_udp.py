"""UDP mode in-process (pen/engine/udp.py) with a fake clock: a flow that finds every server
full waits in the queue (queue_max) and is sent on, or forgotten, without leaving a place
reserved on the server (docs/pen.md "Queueing")."""
from __future__ import annotations

import socket

from pen.core.balance.state import PenState
from pen.engine.balancer import Balancer
from pen.settings import Settings
from support.engine import FakeClock, drive


def udp_balancer(clock: FakeClock, **settings: object) -> tuple[Balancer, socket.socket, tuple]:
    """A -U Balancer over one UDP backend that takes one flow (`:1`), and the backend."""
    bal = Balancer(PenState(Settings(udp=True, **settings)), checks=False, clock=clock)
    backend = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    backend.bind(("127.0.0.1", 0))
    backend.setblocking(False)
    bal.apply_server_spec(0, f"127.0.0.1:{backend.getsockname()[1]}:1")
    lsock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    lsock.bind(("127.0.0.1", 0))
    lsock.setblocking(False)
    bal.open_listener(f"127.0.0.1:{lsock.getsockname()[1]}", lsock)
    return bal, backend, lsock.getsockname()


def received(backend: socket.socket, got: list[bytes]) -> list[bytes]:
    while True:
        try:
            got.append(backend.recv(65535))
        except BlockingIOError:
            return got


def test_a_waiting_flow_is_sent_on_when_the_server_has_room_and_releases_nothing() -> None:
    clock = FakeClock()
    bal, backend, addr = udp_balancer(clock, queue_max=4, queue_timeout=30.0, idle_timeout=10)
    d, srv = bal.dispatcher, bal.state.servers.get(0)
    a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    got: list[bytes] = []
    a.sendto(b"from a", addr)
    drive(bal, lambda: received(backend, got) == [b"from a"], "a's flow to the server")
    b.sendto(b"from b", addr)
    drive(bal, lambda: len(d.queue) == 1, "b's flow waiting (the server takes one)")
    assert (srv.c, srv.pending, d.pending, d.nconns) == (1, 0, 0, 2)
    clock.advance(11)                        # a's flow goes idle and expires: b gets its place
    drive(bal, lambda: received(backend, got)[1:] == [b"from b"], "b's kept datagram sent on")
    assert not d.queue
    assert (srv.c, srv.pending, d.pending, d.nconns) == (1, 0, 0, 1)
    clock.advance(11)                        # b's flow expires too: nothing stays counted
    drive(bal, lambda: d.nconns == 0, "b's flow expired")
    assert (srv.c, srv.pending, d.pending) == (0, 0, 0)
    b.sendto(b"b again", addr)               # the server is usable: not skipped as full
    drive(bal, lambda: received(backend, got)[2:] == [b"b again"], "a new flow served")
    for s in (a, b, backend):
        s.close()
    bal.shutdown()


def test_a_flow_that_waits_past_queue_timeout_is_forgotten_and_frees_its_queue_place() -> None:
    clock = FakeClock()
    bal, backend, addr = udp_balancer(clock, queue_max=1, queue_timeout=2.0)
    d, srv = bal.dispatcher, bal.state.servers.get(0)
    a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    got: list[bytes] = []
    a.sendto(b"from a", addr)
    drive(bal, lambda: received(backend, got) == [b"from a"], "a's flow to the server")
    b.sendto(b"from b", addr)
    drive(bal, lambda: len(d.queue) == 1, "b's flow waiting")
    clock.advance(3)
    bal.housekeeping()                       # once a second in pen: the queue's expiry
    drive(bal, lambda: d.nconns == 1, "b's flow refused after queue_timeout")
    assert not d.queue and len(bal.udp.flows) == 1 and d.refused_total == 1
    assert (srv.c, srv.pending, d.pending) == (1, 0, 0)
    for s in (a, b, backend):
        s.close()
    bal.shutdown()
