"""Client traffic for the scale lab: from the client namespace, through the router, to the VIPs
or the anycast address; every answer says which backend served it and through which pen node
(labbackend.py writes `NAME PEER`, PEER being the node's backend-LAN address 198.51.100.(10+I)).
"""
from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import scaleconf as conf
from scalelab import ns_socket


@dataclass(frozen=True, slots=True)
class Reply:
    backend: str      # web1, web2, web3
    node: int         # the pen node that relayed the connection


def parse(line: bytes) -> Reply | None:
    words = line.decode(errors="replace").split()
    if len(words) < 2 or not words[1].startswith(conf.BACK + "."):
        return None
    return Reply(words[0], int(words[1].rsplit(".", 1)[1]) - 10)


def _readline(s: socket.socket) -> bytes:
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(256)
        if not chunk:
            break
        buf += chunk
    return buf


def fetch(ns: str, host: str, port: int = conf.LISTEN_PORT, src: str | None = None,
          timeout: float = 1.0) -> Reply | None:
    """One connection: which backend, through which node; None if it failed."""
    try:
        with ns_socket(ns) as s:
            s.settimeout(timeout)
            if src:
                s.bind((src, 0))
            s.connect((host, port))
            return parse(_readline(s))
    except OSError:
        return None


class Flow:
    """A long-lived connection: opened once, then `ping()` checks it still reaches the same
    backend through the same node (a flow rehashed to another node would be reset there)."""

    def __init__(self, ns: str, host: str, port: int = conf.LISTEN_PORT, src: str | None = None,
                 timeout: float = 2.0) -> None:
        self.sock = ns_socket(ns)
        self.sock.settimeout(timeout)
        if src:
            self.sock.bind((src, 0))
        self.sock.connect((host, port))
        self.port = self.sock.getsockname()[1]
        reply = parse(_readline(self.sock))
        if reply is None:
            self.sock.close()
            raise OSError("no greeting from the backend")
        self.first = reply

    def ping(self) -> bool:
        try:
            self.sock.sendall(b"ping\n")
            line = _readline(self.sock)
        except OSError:
            return False
        reply = parse(line)
        return reply == self.first and line.rstrip().endswith(b"ping")

    def close(self) -> None:
        self.sock.close()


@dataclass(slots=True)
class Sample:
    t: float
    reply: Reply | None


@dataclass(slots=True)
class Prober:
    """Back-to-back requests to one address in a thread, every outcome recorded with its time.
    Each request has a short timeout so an outage costs few, countable, requests."""

    ns: str
    host: str
    timeout: float = 0.25
    pause: float = 0.01
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Prober:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            t = time.monotonic()
            self.samples.append(Sample(t, fetch(self.ns, self.host, timeout=self.timeout)))
            self._stop.wait(self.pause)

    def stop(self) -> list[Sample]:
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        return self.samples

    def lost(self, since: float = 0.0) -> int:
        return sum(1 for s in self.samples if s.t >= since and s.reply is None)

    def count(self, since: float = 0.0) -> int:
        return sum(1 for s in self.samples if s.t >= since)

    def first_served_by_other(self, since: float, node: int) -> float | None:
        """When the first request started at/after `since` was answered by a node other than
        `node` (the failover's end as a client sees it)."""
        for s in self.samples:
            if s.t >= since and s.reply is not None and s.reply.node != node:
                return s.t
        return None

    def nodes(self, since: float = 0.0) -> Counter[int]:
        return Counter(s.reply.node for s in self.samples if s.t >= since and s.reply)
