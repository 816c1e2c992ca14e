"""The client's TLS handshake, before pen spends anything else on the client (issue 18).

C pen (and pen-ha before) selected a server and connected to it as soon as a TLS client's TCP
connection arrived, and waited for the handshake without a deadline: clients that never send
a ClientHello each held a client slot and a server connection, and `-x` of them locked every
real client out.  Here a handshaking client holds one descriptor and no slot; it is admitted
(server selection, connect) only once its handshake completed, and closed when the handshake
takes longer than `tls_handshake_timeout` (default 10 s).  At most `MAX_PER_SLOT` x `-x`
handshakes run at once; past that the oldest is dropped, so a flood of silent clients
cannot keep a new one out.  docs/pen.md, "TLS".
"""
from __future__ import annotations

import ssl
from typing import TYPE_CHECKING

from pen.engine.preadmit import BeforeAdmission
from pen.engine.reactor import EPOLLIN, EPOLLOUT

if TYPE_CHECKING:
    from pen.engine.balancer import Balancer

MAX_PER_SLOT = 4


class TlsHandshake(BeforeAdmission):
    __slots__ = ("dst", "mask")
    sock: ssl.SSLSocket

    def __init__(self, bal: Balancer, sock: ssl.SSLSocket, host: str, port: int,
                 dst: tuple[str, int] | None) -> None:
        super().__init__(bal, sock, host, port)
        self.dst = dst
        self.mask = 0

    def start(self) -> None:
        bal = self.bal
        limit = MAX_PER_SLOT * bal.state.settings.conn_max
        while len(bal.handshakes) >= limit:
            oldest = next(iter(bal.handshakes))
            oldest.drop("dropped for a newer client (too many handshakes in progress)")
        bal.handshakes[self] = None
        bal.reactor.add(self.fd, 0, self.on_event)
        self.timer = bal.reactor.call_later(bal.state.settings.tls_handshake_timeout, self.expire)
        self.step()

    def on_event(self, ev: int) -> None:
        self.step()

    def step(self) -> None:
        try:
            self.sock.do_handshake()
        except ssl.SSLWantReadError:
            self._want(EPOLLIN)
            return
        except ssl.SSLWantWriteError:
            self._want(EPOLLOUT)
            return
        except (ssl.SSLError, OSError) as e:
            self.drop(f"TLS handshake failed: {getattr(e, 'reason', None) or e}")
            return
        self.finish()
        self.bal.start_client(self.sock, self.host, self.port, self.dst)

    def _want(self, mask: int) -> None:
        if mask != self.mask:
            self.mask = mask
            self.bal.reactor.set_mask(self.fd, mask)

    def too_late(self) -> str:
        return f"no TLS handshake within {self.bal.state.settings.tls_handshake_timeout:g} s"

    def forget(self) -> None:
        self.bal.handshakes.pop(self, None)
