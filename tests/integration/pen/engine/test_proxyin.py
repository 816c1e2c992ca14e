"""The PROXY protocol reader in-process (pen/engine/proxyin.py; penctl `accept_proxy`, HAProxy's
proxy-protocol.txt): the header is consumed and the client admitted under the address it
names, not one byte of the client's own stream is lost, headers split across reads wait for
the rest, and a bad or missing header closes the client (missing: at -t, on the fake clock)."""
from __future__ import annotations

import socket
import struct

from pen.engine.balancer import Balancer
from support.engine import EchoBackend, FakeClock, Reader, balancer, client, drive

SIG = b"\r\n\r\n\x00\r\nQUIT\n"            # the v2 signature, written out here independently


def v2_tcp4(src: str, dst: str, sport: int, dport: int) -> bytes:
    body = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    return SIG + bytes([0x21, 0x11]) + struct.pack("!H", len(body)) + body


def proxied(**settings: object) -> tuple[FakeClock, Balancer, EchoBackend]:
    clock = FakeClock()
    bal = balancer(clock=clock, accept_proxy=True, **settings)
    echo = EchoBackend(bal.reactor)
    bal.apply_server_spec(0, echo.spec)
    return clock, bal, echo


def the_client_seen(bal: Balancer) -> tuple[str, int, tuple[str, int] | None]:
    (conn,) = [c for c in bal.conns if c is not None]
    return conn.ticket.who.host, conn.ticket.who.port, conn.dst


def test_v1_header_is_consumed_and_names_the_client() -> None:
    clock, bal, echo = proxied()
    c = client(bal)
    c.sendall(b"PROXY TCP4 192.0.2.7 198.51.100.1 40000 443\r\nGET / HTTP/1.0\r\n\r\n")
    r = Reader(c)
    drive(bal, lambda: r.poll() or r.data == b"GET / HTTP/1.0\r\n\r\n", "the payload echoed")
    assert the_client_seen(bal) == ("192.0.2.7", 40000, ("198.51.100.1", 443))
    assert echo.accepted == 1
    c.close()


def test_v2_header_split_across_reads_waits_for_the_rest() -> None:
    clock, bal, echo = proxied()
    header = v2_tcp4("198.51.100.20", "192.0.2.1", 5555, 80)
    c = client(bal)
    c.sendall(header[:10])                   # part of the signature only
    for _ in range(10):
        bal.reactor.run_once(0.005)
    assert echo.accepted == 0 and not [x for x in bal.conns if x is not None]
    c.sendall(header[10:] + b"\x00binary\xff")
    r = Reader(c)
    drive(bal, lambda: r.poll() or r.data == b"\x00binary\xff", "the payload after the header")
    assert the_client_seen(bal) == ("198.51.100.20", 5555, ("192.0.2.1", 80))


def test_v2_local_keeps_the_connections_own_address() -> None:
    """LOCAL (a front balancer's own health check): no address in the header."""
    clock, bal, echo = proxied()
    c = client(bal)
    c.sendall(SIG + bytes([0x20, 0x00]) + struct.pack("!H", 0) + b"ping")
    r = Reader(c)
    drive(bal, lambda: r.poll() or r.data == b"ping", "the payload echoed")
    host, port, _ = the_client_seen(bal)
    assert (host, port) == c.getsockname()


def test_a_stream_without_a_header_is_closed_and_reaches_no_server() -> None:
    clock, bal, echo = proxied()
    c = client(bal)
    c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    r = Reader(c)
    drive(bal, r.poll, "the client closed")
    assert r.data == b"" and echo.accepted == 0
    assert bal.dispatcher.refused_total == 1 and bal.nconns == 0
    c.close()


def test_no_header_within_the_connect_timeout_closes_the_client() -> None:
    clock, bal, echo = proxied(timeout=3)
    c = client(bal)
    r = Reader(c)
    for _ in range(20):                      # real time passes, the fake clock does not
        bal.reactor.run_once(0.005)
        assert not r.poll()
    clock.advance(3.0)
    drive(bal, r.poll, "the client closed at -t")
    assert echo.accepted == 0 and bal.dispatcher.refused_total == 1
    c.close()
