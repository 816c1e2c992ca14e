"""A client pen reads from before admitting it: a PROXY header, a TLS handshake.

Until it is admitted such a client holds one descriptor, no connection slot and no server, and
it has a deadline; dropping it, on error or when the deadline passes, tells the dispatcher that
a place it counted is free (docs/pen.md, "TLS" and "PROXY protocol").
"""
from __future__ import annotations

import logging
import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pen.engine.balancer import Balancer
    from pen.engine.reactor import Timer

log = logging.getLogger("pen")


class BeforeAdmission:
    """What both stages share: the socket, the deadline, and how the client is let go."""

    __slots__ = ("bal", "sock", "fd", "host", "port", "timer")

    def __init__(self, bal: Balancer, sock: socket.socket, host: str, port: int) -> None:
        self.bal, self.sock, self.host, self.port = bal, sock, host, port
        self.fd = sock.fileno()
        self.timer: Timer | None = None

    def too_late(self) -> str:
        """Why the client is closed when its deadline passes."""
        raise NotImplementedError

    def expire(self) -> None:
        self.timer = None
        self.drop(self.too_late())

    def drop(self, why: str) -> None:
        log.info("client %s: %s; closing", self.host or "unix", why)
        self.finish()
        self.bal.dispatcher.refuse_unadmitted()
        self.sock.close()

    def forget(self) -> None:
        """Remove the client from any registry of the stage's own (none by default)."""

    def finish(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.forget()
        self.bal.reactor.remove(self.fd)
