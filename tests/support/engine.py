"""The engine in-process: a Balancer on loopback driven one reactor pass at a time with a fake
clock, so timeouts (connect, queue, blacklist, control deadline) take no real time.

Backends are plain sockets served by the same reactor; clients are the test's own sockets.
Every wait is bounded (`drive`): a pass waits at most a few milliseconds of real time.
"""
from __future__ import annotations

import socket
import time
from typing import Callable

from pen.core.balance.state import PenState
from pen.engine.balancer import Balancer
from pen.engine.reactor import EPOLLIN, Reactor
from pen.settings import Settings


_to_close: list[Callable[[], None]] = []      # what the tests made, closed after each


def after_test(close: Callable[[], None]) -> None:
    """Run `close` once the test is over (tests/integration/pen/engine/conftest.py)."""
    _to_close.append(close)


def close_all() -> None:
    """Shut down every balancer and close every socket a test made here, newest first."""
    while _to_close:
        _to_close.pop()()


def shut(bal: Balancer) -> None:
    """Everything a balancer holds: connections, listener, control port, its epoll."""
    bal.shutdown()
    bal.reactor.epoll.close()


class FakeClock:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def balancer(*specs: str, clock: FakeClock, checks: bool = False,
             **settings: object) -> Balancer:
    """A Balancer over `specs` (C pen's server syntax), listening on 127.0.0.1, port 0 (a UDP
    socket with udp=True).  `checks`: it runs the health checks (pen.engine.health)."""
    bal = Balancer(PenState(Settings(**settings)), checks=checks, clock=clock)
    after_test(lambda: shut(bal))
    for index, spec in enumerate(specs):
        bal.apply_server_spec(index, spec)
    kind = socket.SOCK_DGRAM if settings.get("udp") else socket.SOCK_STREAM
    sock = socket.socket(socket.AF_INET, kind)   # port 0, handed over as systemd would
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    if kind == socket.SOCK_STREAM:
        sock.listen(64)
    sock.setblocking(False)
    bal.open_listener(f"127.0.0.1:{sock.getsockname()[1]}", sock)
    return bal


def drive(bal: Balancer, until: Callable[[], object], what: str, real_timeout: float = 3.0,
          step: float = 0.005) -> object:
    """Run reactor passes until `until()` is truthy (bounded in real time)."""
    deadline = time.monotonic() + real_timeout
    while True:
        value = until()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"the engine did not get to: {what}")
        bal.reactor.run_once(step)


def full_listener() -> tuple[socket.socket, list[socket.socket]]:
    """A server whose accept queue is full: it drops further SYNs, so connects to it stay in
    progress (the listener, and the fillers to close after)."""
    full = socket.socket()
    full.bind(("127.0.0.1", 0))
    full.listen(0)
    fillers = []
    for _ in range(4):                         # fill the accept queue (nobody accepts)
        f = socket.socket()
        f.setblocking(False)
        f.connect_ex(full.getsockname())
        fillers.append(f)
    for s in (full, *fillers):
        after_test(s.close)
    return full, fillers


def control_client(path: str) -> socket.socket:
    """A non-blocking connection to a control port on a unix socket (engine.control_server)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    after_test(s.close)
    s.connect(path)
    s.setblocking(False)
    return s


def client(bal: Balancer) -> socket.socket:
    """A client connected to the balancer's listener (non-blocking once connected)."""
    assert bal.listen_sock is not None
    sock = socket.create_connection(bal.listen_sock.getsockname()[:2], timeout=2)
    sock.setblocking(False)
    after_test(sock.close)
    return sock


class Reader:
    """Everything a non-blocking socket has received, and whether it reached EOF (or a reset)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.data, self.eof, self.reset = sock, b"", False, False

    def poll(self) -> bool:
        """Read what is there; True once the peer closed."""
        while not self.eof:
            try:
                chunk = self.sock.recv(65536)
            except BlockingIOError:
                break
            except ConnectionResetError:
                self.eof = self.reset = True
                break
            if not chunk:
                self.eof = True
                break
            self.data += chunk
        return self.eof


class EchoBackend:
    """A server in the balancer's own reactor: echoes, closes after the client's EOF."""

    def __init__(self, reactor: Reactor, sock: socket.socket | None = None) -> None:
        """`sock`: a listening socket made before the reactor was (else one on port 0)."""
        self.reactor = reactor
        if sock is None:
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sock.listen(16)
        self.sock = sock
        after_test(self.close)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.peers: list[socket.socket] = []
        reactor.add(self.sock.fileno(), EPOLLIN, self.on_accept)

    @property
    def spec(self) -> str:
        return f"127.0.0.1:{self.port}"

    def close(self) -> None:
        for s in (self.sock, *self.peers):
            s.close()

    def on_accept(self, ev: int) -> None:
        try:
            conn, _ = self.sock.accept()
        except BlockingIOError:
            return
        conn.setblocking(False)
        self.accepted += 1
        self.peers.append(conn)
        self.reactor.add(conn.fileno(), EPOLLIN, lambda ev: self.on_data(conn))

    def on_data(self, conn: socket.socket) -> None:
        try:
            data = conn.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            conn.sendall(data)
            return
        self.reactor.remove(conn.fileno())
        conn.close()



class UdpEcho:
    """A UDP server in the balancer's own reactor: answers each datagram with `name:` and the
    datagram, and keeps what it received and from where."""

    def __init__(self, reactor: Reactor, name: bytes) -> None:
        self.name = name
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        after_test(self.sock.close)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.got: list[tuple[bytes, tuple]] = []
        reactor.add(self.sock.fileno(), EPOLLIN, self.on_datagram)

    @property
    def spec(self) -> str:
        return f"127.0.0.1:{self.port}"

    def on_datagram(self, ev: int) -> None:
        while True:
            try:
                data, addr = self.sock.recvfrom(65535)
            except BlockingIOError:
                return
            self.got.append((data, addr))
            self.sock.sendto(self.name + b":" + data, addr)
