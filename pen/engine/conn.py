"""One proxied TCP (or unix) connection: connect, forward both ways, half-close, close.

Level-triggered epoll.  Each side is read only while the other side has nothing pending
(back-pressure, as in C pen §2.12), written only while something is pending.  Readable data
is always drained before a HUP is acted on (C pen 0.34.1 lost responses there, §2.12), and EOF
on one side becomes shutdown(SHUT_WR) on the other, so half-closed streams lose nothing.
A reset on one side is passed on as a reset on the other (SO_LINGER 0), so a client never
mistakes a broken transfer for a complete one.
"""
from __future__ import annotations

import errno
import logging
import os
import socket
import ssl
import struct
from typing import TYPE_CHECKING

from pen.engine import pipes
from pen.engine.reactor import EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT

if TYPE_CHECKING:
    from pen.core.clients import Client
    from pen.core.httphead import RequestRewriter
    from pen.core.selection import ClientAddr
    from pen.core.servers import Server
    from pen.engine.balancer import Balancer

log = logging.getLogger("pen")

BUFSIZE = 256 * 1024
_buffer = bytearray(BUFSIZE)
_view = memoryview(_buffer)
_LINGER0 = struct.pack("ii", 1, 0)

SHUT_UP = 1
SHUT_DOWN = 2


class _Piped:
    """Marks a direction whose pending data waits in its splice pipe, not in a bytes object."""


PIPED = _Piped()

# C pen's connection states (§2.1), shown by `connection N`.
CS_IN_PROGRESS = 1
CS_CONNECTED = 2


class Conn:
    __slots__ = ("bal", "index", "down", "up", "dfd", "ufd", "client", "who", "initial",
                 "server", "srv", "connected", "to_up", "to_down", "down_eof", "up_eof",
                 "shut", "last", "rewriter", "closed", "local_port", "down_mask", "up_mask",
                 "reactor", "opened", "tls", "tls_wants_write", "queued_until", "dst",
                 "pipe_u", "pipe_d", "piped_u", "piped_d", "up_tls")

    def __init__(self, bal: Balancer, index: int, down: socket.socket, client: Client,
                 who: ClientAddr, initial: int) -> None:
        self.bal = bal
        self.reactor = bal.reactor
        self.index = index
        self.down = down
        self.dfd = down.fileno()
        self.up: socket.socket | None = None
        self.ufd = -1
        self.client = client
        self.who = who
        self.initial = initial
        self.server = initial
        self.srv: Server | None = None
        self.connected = False
        self.to_up: bytes | None = None
        self.to_down: bytes | None = None
        self.down_eof = False
        self.up_eof = False
        self.shut = 0                    # SHUT_UP | SHUT_DOWN: which sides got shutdown(WR)
        self.last = self.opened = bal.reactor.now
        self.rewriter: RequestRewriter | None = None
        self.closed = False
        self.local_port = 0
        self.down_mask = 0
        self.up_mask = 0
        self.tls = isinstance(down, ssl.SSLSocket)
        self.tls_wants_write = False
        self.queued_until = 0.0
        self.dst: tuple[str, int] | None = None     # the address the client asked for (PROXY)
        self.pipe_u: tuple[int, int] | None = None   # splice pipes, once a direction is bulk
        self.pipe_d: tuple[int, int] | None = None
        self.piped_u = 0                             # bytes waiting in them
        self.piped_d = 0
        self.up_tls = False                          # TLS towards the server
        self.reactor.add(self.dfd, 0, self.on_down)

    # -- state shown by `connection N` ---------------------------------------------------------
    @property
    def state(self) -> int:
        return CS_CONNECTED if self.connected else CS_IN_PROGRESS

    # -- connecting (driven by Balancer.connect) -----------------------------------------------
    def attach_upstream(self, up: socket.socket, index: int, srv: Server) -> None:
        self.up, self.ufd, self.server, self.srv = up, up.fileno(), index, srv
        self.reactor.add(self.ufd, 0, self.on_up)

    def detach_upstream(self) -> None:
        self.bal.connecting.pop(self, None)
        if self.up is not None:
            self.reactor.forget(self.ufd)
            self.up.close()
            self.up, self.ufd, self.up_mask = None, -1, 0
        self.up_tls = False

    def established(self) -> None:
        """The upstream connect completed: start forwarding."""
        self.connected = True
        self.bal.connecting.pop(self, None)
        self.update()

    def handshake(self) -> None:
        """Drive the TLS handshake with the server, waiting on whichever way it needs."""
        try:
            self.up.do_handshake()
        except ssl.SSLWantReadError:
            self._set_up_mask(EPOLLIN)
            return
        except ssl.SSLWantWriteError:
            self._set_up_mask(EPOLLOUT)
            return
        except (ssl.SSLError, OSError) as e:
            why = f"TLS handshake with server {self.server}: {getattr(e, 'reason', None) or e}"
            log.warning("%s", why)        # a certificate problem is worth seeing at -d 0
            self.bal._connect_done(self, why)
            return
        self.bal._connect_done(self, None)

    def _set_up_mask(self, mask: int) -> None:
        if mask != self.up_mask:
            self.up_mask = mask
            self.reactor.set_mask(self.ufd, mask)

    # -- events --------------------------------------------------------------------------------
    def on_down(self, ev: int) -> None:
        if self.tls_wants_write and ev & (EPOLLOUT | EPOLLERR | EPOLLHUP):
            self.tls_wants_write = False
            self.update()
            self.read_down()
            return
        if ev & EPOLLOUT and self.to_down is not None:
            self.flush(True)
            if self.closed:
                return
        if ev & (EPOLLIN | EPOLLHUP | EPOLLERR) and self.down_mask & EPOLLIN:
            if self.pipe_u is not None:
                self.splice_in(False)
            else:
                self.read_down()
        elif ev & EPOLLERR and not self.closed:
            self.abort(reset_client=False)     # an error nothing else would notice: no spin

    def on_up(self, ev: int) -> None:
        if not self.connected:
            if self.up_tls:
                self.handshake()
            else:
                self.bal.connect_event(self, ev)
            return
        if ev & EPOLLOUT and self.to_up is not None:
            self.flush(False)
            if self.closed:
                return
        if ev & (EPOLLIN | EPOLLHUP | EPOLLERR) and self.up_mask & EPOLLIN:
            if self.pipe_d is not None:
                self.splice_in(True)
            else:
                self.read_up()
        elif ev & EPOLLERR and not self.closed:
            self.abort(reset_client=True)

    def read_down(self) -> None:
        """Client -> server (for TLS, also whatever the TLS layer has already decrypted)."""
        self._read_down_once()
        while (self.tls and not self.closed and self.to_up is None and not self.down_eof
               and self.connected and self.down.pending()):
            self._read_down_once()

    def _read_down_once(self) -> None:
        try:
            n = self.down.recv_into(_buffer)
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError):
            return
        except ssl.SSLWantWriteError:
            self.tls_wants_write = True
            self.update()
            return
        except OSError:
            self.abort(reset_client=False)
            return
        self.last = self.reactor.now
        if n == 0:
            self.down_eof = True
            if self.rewriter is not None:
                held = self.rewriter.flush()
                if held:
                    self.send_up(held)
                    if self.closed:
                        return
            self.after_eof()
            return
        self.client.crx += n
        if n == BUFSIZE and self.pipe_u is None and self.rewriter is None and not self.tls \
                and not self.up_tls \
                and self.bal.logsink is None:
            self.pipe_u = pipes.get()          # bulk upload: splice from now on
        if self.rewriter is not None:
            chunk = bytes(_view[:n])
            data, lines = self.rewriter.feed(chunk)
            if self.bal.logsink is not None:
                if lines:
                    for line in lines:
                        self.bal.log_request(self, line)
                elif self.rewriter.passthrough():
                    self.bal.log_request(self, chunk)
            if not data:
                return
        else:
            data = _view[:n]
            if self.bal.logsink is not None:
                self.bal.log_request(self, bytes(data))
        self.srv.sx += len(data)
        self.send_up(data)

    def send_up(self, data: bytes | memoryview) -> None:
        try:
            sent = self.up.send(data)
        except (BlockingIOError, InterruptedError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
            sent = 0
        except OSError:
            self.abort(reset_client=True)
            return
        if sent < len(data):
            self.to_up = bytes(data[sent:])
            self.update()

    def read_up(self) -> None:
        """Server -> client (with TLS to the server, also what its TLS layer decrypted)."""
        self._read_up_once()
        while (self.up_tls and not self.closed and self.to_down is None and not self.up_eof
               and self.up.pending()):
            self._read_up_once()

    def _read_up_once(self) -> None:
        try:
            n = self.up.recv_into(_buffer)
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return
        except OSError:
            self.abort(reset_client=True)
            return
        self.last = self.reactor.now
        if n == 0:
            self.up_eof = True
            self.after_eof()
            return
        self.srv.rx += n
        self.client.csx += n
        if n == BUFSIZE and self.pipe_d is None and not self.tls and not self.up_tls:
            self.pipe_d = pipes.get()          # bulk download: splice from now on
        data = _view[:n]
        try:
            sent = self.down.send(data)
        except (BlockingIOError, InterruptedError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
            sent = 0
        except OSError:
            self.abort(reset_client=False)
            return
        if sent < n:
            self.to_down = bytes(data[sent:])
            self.update()

    def flush(self, towards_client: bool) -> None:
        """Send what is pending towards one side; on completion resume reading the other."""
        sock = self.down if towards_client else self.up
        pending = self.to_down if towards_client else self.to_up
        if pending is PIPED:
            left = self.drain_pipe(towards_client)
            if left < 0:
                return
            rest = PIPED if left else None
        else:
            try:
                sent = sock.send(pending)
            except (BlockingIOError, InterruptedError, ssl.SSLWantWriteError,
                    ssl.SSLWantReadError):
                return
            except OSError:
                self.abort(reset_client=not towards_client)
                return
            rest = pending[sent:] if sent < len(pending) else None
        if towards_client:
            self.to_down = rest
        else:
            self.to_up = rest
        if rest is None:
            self.after_eof() if (self.down_eof or self.up_eof) else self.update()
            if not towards_client and self.tls and not self.closed and self.down.pending():
                self.read_down()      # decrypted bytes wait in the TLS layer, not the socket
            if towards_client and self.up_tls and not self.closed and self.up.pending():
                self.read_up()

    # -- splice (bulk) --------------------------------------------------------------------------
    def splice_in(self, towards_client: bool) -> None:
        """Move what the source has into the direction's pipe, then on to the destination."""
        pipe = self.pipe_d if towards_client else self.pipe_u
        src = self.ufd if towards_client else self.dfd
        try:
            n = os.splice(src, pipe[1], pipes.capacity(), flags=pipes.FLAGS)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.abort(reset_client=towards_client)
            return
        self.last = self.reactor.now
        if n == 0:
            if towards_client:
                self.up_eof = True
            else:
                self.down_eof = True
            self.after_eof()
            return
        if towards_client:
            self.srv.rx += n
            self.client.csx += n
            self.piped_d += n
        else:
            self.srv.sx += n
            self.client.crx += n
            self.piped_u += n
        left = self.drain_pipe(towards_client)
        if left > 0:
            if towards_client:
                self.to_down = PIPED
            else:
                self.to_up = PIPED
            self.update()

    def drain_pipe(self, towards_client: bool) -> int:
        """Splice the pipe's bytes into the destination; the bytes left, or -1 on abort."""
        if towards_client:
            rfd, dst, left = self.pipe_d[0], self.dfd, self.piped_d
        else:
            rfd, dst, left = self.pipe_u[0], self.ufd, self.piped_u
        try:
            while left:
                left -= os.splice(rfd, dst, left, flags=pipes.FLAGS)
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self.abort(reset_client=not towards_client)
            return -1
        finally:
            if towards_client:
                self.piped_d = left
            else:
                self.piped_u = left
        return left

    # -- closing -------------------------------------------------------------------------------
    def after_eof(self) -> None:
        """Pass EOFs on once their side's pending data is out; close when both are done."""
        fast = self.bal.state.settings.tcp_fastclose
        if self.down_eof and self.to_up is None and not self.shut & SHUT_UP:
            if fast in ("down", "both"):
                self.close()
                return
            self.shut |= SHUT_UP
            if not self.up_tls:             # TLS has no half-close: wait for the server to end
                self._shutdown(self.up)
        if self.up_eof and self.to_down is None and not self.shut & SHUT_DOWN:
            if fast in ("up", "both") or self.tls:    # no TLS half-close: close_notify ends it
                self.close()
                return
            self.shut |= SHUT_DOWN
            self._shutdown(self.down)
        if self.down_eof and self.up_eof and self.to_up is None and self.to_down is None:
            self.close()
        else:
            self.update()

    @staticmethod
    def _shutdown(sock: socket.socket | None) -> None:
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def abort(self, reset_client: bool) -> None:
        """An error on one side: reset the other so the peer knows the stream is broken."""
        other = self.down if reset_client else self.up
        if other is not None:
            try:
                other.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER0)
            except OSError:
                pass
        self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.reactor.forget(self.dfd)
        self.down.close()
        if self.pipe_u is not None:
            pipes.put(self.pipe_u, self.piped_u == 0)
            self.pipe_u = None
        if self.pipe_d is not None:
            pipes.put(self.pipe_d, self.piped_d == 0)
            self.pipe_d = None
        was_connected = self.connected
        was_pending = not self.connected and self.up is not None
        self.detach_upstream()
        self.bal.connection_closed(self, was_connected, was_pending)

    # -- interest masks ------------------------------------------------------------------------
    def update(self) -> None:
        if self.closed:
            return
        if self.connected:
            dm = EPOLLIN if not self.down_eof and self.to_up is None else 0
            if self.to_down is not None or self.tls_wants_write:
                dm |= EPOLLOUT
            um = EPOLLIN if not self.up_eof and self.to_down is None else 0
            if self.to_up is not None:
                um |= EPOLLOUT
        else:
            dm, um = 0, EPOLLOUT
        if dm != self.down_mask:
            self.down_mask = dm
            self.reactor.set_mask(self.dfd, dm)
        if um != self.up_mask and self.up is not None:
            self.up_mask = um
            self.reactor.set_mask(self.ufd, um)


def connect_error(sock: socket.socket) -> int:
    """The outcome of a non-blocking connect (SO_ERROR)."""
    try:
        return sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    except OSError as e:
        return e.errno or errno.EIO
