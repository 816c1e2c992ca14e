"""The Balancer in-process (pen/engine/balancer.py, conn.py): accept, connect, forward,
half-close, failover, the connect timeout and the wait queue, on loopback with a fake clock
(tests/support/engine.py).  Each test takes milliseconds: no process, no real timeout."""
from __future__ import annotations

import gc
import socket

from pen.engine.control_server import open_control
from support.engine import (EchoBackend, FakeClock, Reader, balancer, client, control_client, drive,
                            full_listener)
from support.procs import dead_port


def test_accept_connect_forward_and_half_close() -> None:
    clock = FakeClock()
    bal = balancer(clock=clock)
    echo = EchoBackend(bal.reactor)
    bal.apply_server_spec(0, echo.spec)
    c = client(bal)
    c.sendall(b"hello, server")
    c.shutdown(socket.SHUT_WR)               # the request is complete: the reply must follow
    r = Reader(c)
    drive(bal, r.poll, "the echo and the close")
    assert r.data == b"hello, server" and not r.reset
    srv = bal.state.servers.get(0)
    assert (srv.sx, srv.rx, srv.total, srv.failures) == (13, 13, 1, 0)
    drive(bal, lambda: bal.nconns == 0, "the connection freed")
    c.close()


def test_both_sockets_of_a_connection_have_nodelay() -> None:
    """Latency over segment count on both sides: the client's socket gets TCP_NODELAY from
    the listener (Linux copies it on accept, saving a setsockopt per connection), the
    server's from start_connect."""
    bal = balancer(clock=FakeClock())
    echo = EchoBackend(bal.reactor)
    bal.apply_server_spec(0, echo.spec)
    c = client(bal)
    c.sendall(b"ping")
    conn = drive(bal, lambda: next((x for x in bal.conns if x is not None and x.up), None),
                 "the connection to the server")
    nodelay = [s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in (conn.down, conn.up)]
    assert nodelay == [1, 1]


def test_a_closed_connection_is_freed_without_the_cycle_collector() -> None:
    """Once closed, a Conn and its dispatcher Ticket must not refer to each other: that cycle
    left every connection to the collector, whose passes over tens of thousands of objects
    were the close workload's p99 tail (bench/PROFILE.md)."""
    bal = balancer(clock=FakeClock())
    echo = EchoBackend(bal.reactor)
    bal.apply_server_spec(0, echo.spec)
    gc.collect()
    gc.disable()
    try:
        for k in range(3):
            c = client(bal)
            c.sendall(b"ping")
            c.shutdown(socket.SHUT_WR)
            r = Reader(c)
            drive(bal, r.poll, f"connection {k} answered and closed")
            drive(bal, lambda: bal.nconns == 0, f"connection {k} freed")
            c.close()
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        left = sorted({type(o).__name__ for o in gc.garbage} & {"Conn", "Ticket", "ClientAddr"})
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert left == [], f"closed connections left cycles behind: {left}"


def test_a_refused_server_is_blacklisted_at_the_clock_and_the_next_one_serves() -> None:
    clock = FakeClock(5000.0)
    bal = balancer(f"127.0.0.1:{dead_port()}", clock=clock, roundrobin=True)
    echo = EchoBackend(bal.reactor)
    bal.apply_server_spec(1, echo.spec)
    for k in range(2):                        # round robin: one of the two tries server 0
        c = client(bal)
        c.sendall(b"ping")
        r = Reader(c)
        drive(bal, lambda: r.poll() or r.data == b"ping", f"client {k} served by server 1")
        c.close()
        clock.advance(1.0)
    dead = bal.state.servers.get(0)
    assert dead.failures == 1 and dead.blacklisted_at in (5000.0, 5001.0)
    assert echo.accepted == 2
    assert dead.blacklisted(dead.blacklisted_at + 29.9, bal.state.settings.blacklist)
    assert not dead.blacklisted(dead.blacklisted_at + 30.0, bal.state.settings.blacklist)


def test_a_connect_that_never_completes_times_out_on_the_fake_clock() -> None:
    """A server whose accept queue is full drops the SYN: the connect stays in progress until
    -t passes (here by moving the clock), then the server is blacklisted and the next tried."""
    full, fillers = full_listener()
    clock = FakeClock()
    bal = balancer(f"127.0.0.1:{full.getsockname()[1]}", clock=clock, timeout=5)
    c = client(bal)
    c.sendall(b"slow")
    r = Reader(c)
    drive(bal, lambda: bal.dispatcher.connecting, "a connect in progress")
    echo = EchoBackend(bal.reactor)              # the server the failover will find
    bal.apply_server_spec(1, echo.spec)
    for _ in range(20):                        # real time passes, the fake clock does not
        bal.reactor.run_once(0.005)
    assert bal.dispatcher.connecting and echo.accepted == 0
    clock.advance(5.1)
    drive(bal, lambda: r.poll() or r.data == b"slow", "the failover after the timeout")
    assert bal.state.servers.get(0).failures == 1 and echo.accepted == 1
    for s in (c, full, *fillers):
        s.close()


def test_a_connect_lost_before_retry_servers_does_not_blacklist_again(tmp_path) -> None:
    """penvrrp sends `retry_servers` when its link comes back (docs/penvrrp.md "Tracking"); a
    connect whose SYN went with the link times out after that.  Its server stays forgiven (the
    failover still serves the client), so the node's `serving` count holds."""
    full, fillers = full_listener()
    clock = FakeClock()
    bal = balancer(f"127.0.0.1:{full.getsockname()[1]}", clock=clock, timeout=5)
    control = open_control(bal, str(tmp_path / "ctl.sock"))
    c = client(bal)
    c.sendall(b"lost")
    r = Reader(c)
    drive(bal, lambda: bal.dispatcher.connecting, "a connect in progress")
    stuck = next(iter(bal.dispatcher.connecting)).server
    assert stuck == 0
    bal.state.servers.get(0).blacklisted_at = clock()              # failed while the link was down
    echo = EchoBackend(bal.reactor)                                # the server the failover finds
    bal.apply_server_spec(1, echo.spec)
    clock.advance(1.0)
    asker = control_client(str(tmp_path / "ctl.sock"))
    asker.sendall(b"retry_servers\n")
    reply = Reader(asker)
    drive(bal, reply.poll, "the reply to retry_servers")
    assert reply.data == b"2\n"
    clock.advance(5.1)                                               # the lost connect times out
    drive(bal, lambda: r.poll() or r.data == b"lost", "the failover after the timeout")
    srv = bal.state.servers.get(stuck)
    assert not srv.blacklisted(clock(), bal.state.settings.blacklist) and srv.failures == 0
    control.close()
    for s in (c, asker, full, *fillers):
        s.close()


def test_the_queue_holds_a_client_until_a_place_frees_and_refuses_after_its_timeout() -> None:
    clock = FakeClock()
    bal = balancer(clock=clock, queue_max=2, queue_timeout=2.0)
    echo = EchoBackend(bal.reactor)
    bal.apply_server_spec(0, f"{echo.spec}:1:1")           # one connection at a time
    first = client(bal)
    drive(bal, lambda: bal.state.servers.get(0).c == 1, "the first client connected")
    second = client(bal)
    drive(bal, lambda: len(bal.dispatcher.queue) == 1, "the second client queued")
    first.close()                                          # a place frees: the queue moves
    r2 = Reader(second)
    second.sendall(b"queued")
    drive(bal, lambda: r2.poll() or r2.data == b"queued", "the queued client served")
    assert echo.accepted == 2
    third = client(bal)
    drive(bal, lambda: len(bal.dispatcher.queue) == 1, "the third client queued")
    r3 = Reader(third)
    clock.advance(2.5)                                      # past queue_timeout
    drive(bal, r3.poll, "the queued client refused after its timeout")
    assert r3.data == b"" and bal.dispatcher.refused_total == 1
    for s in (second, third):
        s.close()
