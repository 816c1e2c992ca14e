"""Accepting a PROXY protocol header from a balancer in front of pen (listener option).

The header is read before anything else, with MSG_PEEK so not one byte of the client's own
stream is consumed, within the connect timeout; then the client is admitted under its real
address (so tracking, hashing and ACLs see it).  A connection without a valid header is closed:
a front balancer that should send one and does not is a configuration error to see at once.
"""
from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from pen.core.formats.proxyproto import MAX_HEADER, ProxyError, decode
from pen.engine.preadmit import BeforeAdmission
from pen.engine.reactor import EPOLLIN

if TYPE_CHECKING:
    from pen.engine.balancer import Balancer

PEEK = 536          # enough for any v1 header and the v2 address blocks with a few TLVs


class ProxyReader(BeforeAdmission):
    __slots__ = ("want",)

    def __init__(self, bal: Balancer, sock: socket.socket, host: str, port: int) -> None:
        super().__init__(bal, sock, host, port)
        self.want = PEEK

    def start(self) -> None:
        self.bal.reactor.add(self.fd, EPOLLIN, self.on_event)
        self.timer = self.bal.reactor.call_later(self.bal.state.settings.timeout, self.expire)

    def on_event(self, ev: int) -> None:
        try:
            data = self.sock.recv(self.want, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.drop("connection error")
            return
        if not data:
            self.drop("closed before a PROXY header")
            return
        try:
            header = decode(data)
        except ProxyError as e:
            self.drop(str(e))
            return
        if header is None:
            if len(data) >= self.want:
                self.want = min(MAX_HEADER, self.want * 4)
            return
        try:
            self.sock.recv(header.length)          # consume exactly the header
        except OSError:
            self.drop("connection error")
            return
        self.finish()
        if header.local:
            self.bal.admit(self.sock, self.host, self.port)
        else:
            self.bal.admit(self.sock, header.src, header.src_port, (header.dst, header.dst_port))

    def too_late(self) -> str:
        return "no PROXY header in time"
