"""UDP mode (-U): flow affinity, balancing, replies, and failover on ICMP unreachable (pen(1) -U)."""
from __future__ import annotations

import socket

from support.procs import dead_port


def ask(sock: socket.socket, pen_port: int, payload: bytes, timeout: float = 2.0) -> bytes | None:
    sock.settimeout(timeout)
    sock.sendto(payload, ("127.0.0.1", pen_port))
    try:
        data, addr = sock.recvfrom(65535)
    except socket.timeout:
        return None
    assert addr == ("127.0.0.1", pen_port)          # replies come from pen's listen address
    return data


def udp_socket() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    return s


def test_flow_sticks_and_new_flows_round_robin(backends, pen_factory) -> None:
    bs = backends("udp", "u1", "u2")
    pen = pen_factory(*[b.addr for b in bs], udp=True, opts=["-r"])
    with udp_socket() as s:
        answers = [ask(s, pen.port, b"ping%d" % i) for i in range(4)]
    names = {a.split()[0] for a in answers}
    assert len(names) == 1 and answers[0].endswith(b"got ping0")
    seen = []
    for _ in range(4):
        with udp_socket() as s:
            seen.append(ask(s, pen.port, b"x").split()[0])
    assert set(seen) == {b"u1", b"u2"}


def test_dead_udp_backend_is_detected_and_failed_over(backends, pen_factory) -> None:
    """C pen lost every second datagram here (issue #19); every datagram gets an answer."""
    (live,) = backends("udp", "live")
    pen = pen_factory(live.addr, f"127.0.0.1:{dead_port()}", udp=True, opts=["-r", "-b", "60"])
    for i in range(6):
        with udp_socket() as s:
            assert ask(s, pen.port, b"ping%d" % i) == b"live got ping%d" % i


def test_many_datagrams_one_flow(backends, pen_factory) -> None:
    bs = backends("udp", "u1")
    pen = pen_factory(bs[0].addr, udp=True)
    with udp_socket() as s:
        for i in range(200):
            assert ask(s, pen.port, b"n%d" % i) == b"u1 got n%d" % i


def test_a_flow_that_finds_the_server_full_waits_and_is_sent_on_when_a_place_frees(
        backends, pen_factory) -> None:
    """`queue_max`: server 0 takes one flow (`:1`); a second flow waits with its datagram kept
    and is sent on once the first flow's idle_timeout frees the place (docs/pen.md "Queueing").
    The real process, as the in-process tests/integration/pen/engine/test_udp.py drives it."""
    (u1,) = backends("udp", "u1")
    pen = pen_factory(f"{u1.addr}:1", udp=True,
                      opts=["-o", "queue_max 4", "-o", "queue_timeout 30", "-o", "idle_timeout 1"])
    with udp_socket() as a, udp_socket() as b:
        assert ask(a, pen.port, b"from a") == b"u1 got from a"
        assert ask(b, pen.port, b"from b", timeout=0.3) is None      # the server is full: b waits
        b.settimeout(10)                    # a's flow idles out within about 2 s (once a second)
        data, addr = b.recvfrom(65535)
        assert (data, addr) == (b"u1 got from b", ("127.0.0.1", pen.port))
