"""One proxied TCP (or unix) connection: connect, forward both ways, half-close, close.

Level-triggered epoll.  Each side is read only while the other side has nothing pending
(back-pressure, as in C pen), written only while something is pending.  Readable data is
always drained before a HUP is acted on (C pen 0.34.1 lost responses there:
docs/compatibility.md), and EOF on one side becomes shutdown(SHUT_WR) on the other, so
half-closed streams lose nothing.  A reset on one side is passed on as a reset on the other
(SO_LINGER 0), so a client never mistakes a broken transfer for a complete one.
"""
from __future__ import annotations

import _socket
import errno
import logging
import os
import socket
import ssl
import struct
from enum import Enum
from typing import TYPE_CHECKING, Final, cast

from pen.core.formats import httpresp
from pen.engine import pipes, transparent
from pen.engine.reactor import EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT

if TYPE_CHECKING:
    from pen.core.balance.dispatch import Ticket
    from pen.core.balance.servers import Server
    from pen.core.formats.httphead import RequestRewriter
    from pen.core.formats.httpresp import ResponseTracker
    from pen.core.requestlog import ReadLog
    from pen.engine.balancer import Balancer

log = logging.getLogger("pen")

# constants read on every connection or request, bound once as Final: a compiled module looks
# any other module attribute up by name on each use
BUFSIZE: Final = 256 * 1024
_buffer: Final = bytearray(BUFSIZE)
_view: Final = memoryview(_buffer)
_LINGER0: Final = struct.pack("ii", 1, 0)
NODELAY: Final = (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
_STREAM: Final = int(socket.SOCK_STREAM)
_NONBLOCK: Final = int(socket.SOCK_NONBLOCK)
_AF_UNIX: Final = int(socket.AF_UNIX)
_SHUT_WR: Final = int(socket.SHUT_WR)
CONNECT_UNDER_WAY: Final = (0, errno.EINPROGRESS, errno.EAGAIN)
_c_socket: Final = _socket.socket

SHUT_UP: Final = 1
SHUT_DOWN: Final = 2


class _Piped(Enum):
    """Marks a direction whose pending data waits in its splice pipe, not in a bytes object
    (an enum member, so `is PIPED` narrows the type)."""
    PIPED = 0


PIPED: Final = _Piped.PIPED

# C pen's connection states, shown by `connection N` (penctl(1)).
CS_IN_PROGRESS: Final = 1
CS_CONNECTED: Final = 2


class Conn:
    """The owner protocol (the Balancer): `connect_done(conn, error)` when the connect phase
    ends, `connection_closed(conn)` once, `wants_tls`, `send_proxy_header`, `wrap_upstream`,
    `log_request`; the dispatcher's ticket says which server and holds the client."""

    __slots__ = ("bal", "index", "down", "up", "dfd", "ufd", "ticket", "client", "who",
                 "srv", "connected", "to_up", "to_down", "down_eof", "up_eof",
                 "shut", "last", "rewriter", "closed", "local_port", "down_mask", "up_mask",
                 "reactor", "tls", "tls_wants_write", "dst",
                 "pipe_u", "pipe_d", "piped_u", "piped_d", "up_tls", "rlog", "refuse",
                 "after_pipe")

    def __init__(self, bal: Balancer, index: int, down: socket.socket, ticket: Ticket) -> None:
        self.bal = bal
        self.reactor = bal.reactor
        self.index = index
        self.down = down
        self.dfd = down.fileno()
        self.up: socket.socket | None = None
        self.ufd = -1
        self.ticket = ticket
        self.client = ticket.client
        self.who = ticket.who
        self.srv: Server | None = None
        self.connected = False
        self.to_up: bytes | _Piped | None = None      # pending towards the server
        self.to_down: bytes | _Piped | None = None    # pending towards the client
        self.down_eof = False
        self.up_eof = False
        self.shut = 0                    # SHUT_UP | SHUT_DOWN: which sides got shutdown(WR)
        self.last = bal.reactor.now
        self.rewriter: RequestRewriter | None = None
        self.closed = False
        self.local_port = 0
        self.down_mask = 0
        self.up_mask = 0
        self.tls = isinstance(down, ssl.SSLSocket)
        self.tls_wants_write = False
        self.dst: tuple[str, int] | None = None     # the address the client asked for (PROXY)
        self.pipe_u: tuple[int, int] | None = None   # splice pipes, once a direction is bulk
        self.pipe_d: tuple[int, int] | None = None
        self.piped_u = 0                             # bytes waiting in them
        self.piped_d = 0
        self.up_tls = False                          # TLS towards the server
        self.rlog: ReadLog | None = None             # access-log lines from client reads
        self.refuse = 0          # -H: 400/431 to answer once the server is done, -1: answered
        self.after_pipe = b""    # -H: the refusal, sent once the pipe to the client is empty
        self.reactor.add(self.dfd, 0, self.on_down)

    # -- state shown by `connection N` ---------------------------------------------------------
    @property
    def state(self) -> int:
        return CS_CONNECTED if self.connected else CS_IN_PROGRESS

    @property
    def server(self) -> int:
        return self.ticket.server

    def pending_bytes(self, towards_client: bool) -> int:
        """Bytes waiting to be sent one way (in a buffer, or in the direction's splice pipe)."""
        pending = self.to_down if towards_client else self.to_up
        if pending is None:
            return 0
        if isinstance(pending, _Piped):
            return self.piped_d if towards_client else self.piped_u
        return len(pending)

    # -- the connect phase (the Balancer carries out the dispatcher's CONNECT step) -------------
    def start_connect(self, srv: Server) -> int:
        """A non-blocking connect to srv: 0 (done), EINPROGRESS, or the error (no socket)."""
        s = self.bal.state.settings
        addr = srv.sockaddr
        if addr is None:
            return errno.EDESTADDRREQ       # selection never picks a server without an address
        try:
            up = stream_socket(srv.family, _NONBLOCK)
        except OSError as e:
            return e.errno or errno.EMFILE
        try:
            if srv.family != _AF_UNIX:
                up.setsockopt(*NODELAY)
                if s.keepalive:
                    up.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                if s.source:
                    up.bind((s.source, 0))
                elif s.transparent and srv.family == socket.AF_INET and self.who.host:
                    transparent.bind_to_client(up, self.who.host)      # issue 11, docs/dataplane.md
            err = up.connect_ex(addr)
        except OSError as e:
            err = e.errno or errno.EIO
        if err not in CONNECT_UNDER_WAY:
            up.close()
            return err
        self.up, self.ufd, self.srv = up, up.fileno(), srv
        self.reactor.add(self.ufd, 0, self.on_up)
        return err

    def connect_event(self, ev: int) -> None:
        """The upstream socket became writable (or failed) while connecting.  Writable with no
        error or hang-up flag means connected: SO_ERROR is asked only when something failed."""
        up, srv = self.up, self.srv
        assert up is not None and srv is not None, "connecting: start_connect set both"
        err = connect_error(up) if ev & (EPOLLERR | EPOLLHUP) else 0
        if err == 0 and self.bal.wants_tls(srv):
            self.tcp_connected()
            return
        self.bal.connect_done(self, None if err == 0 else os.strerror(err))

    def tcp_connected(self) -> None:
        """TCP is up and TLS is wanted: PROXY header in clear first, then the handshake, which
        counts as part of connecting (the -t timeout covers it; a failure fails over)."""
        if not self.bal.send_proxy_header(self):
            self.bal.connect_done(self, "could not send the PROXY header")
            return
        if not self.bal.wrap_upstream(self):
            self.bal.connect_done(self, "TLS set-up failed")
            return
        self.handshake()

    def detach_upstream(self) -> None:
        if self.up is not None:
            self.reactor.forget(self.ufd)
            self.up.close()
            self.up, self.ufd, self.up_mask = None, -1, 0
        self.up_tls = False

    def established(self) -> None:
        """The upstream connect completed: start forwarding.  A plain TCP connection (no TLS
        either side, no -H rewriter, no request log) gets the lean handlers."""
        self.connected = True
        if (self.rewriter is None and not self.tls and not self.up_tls
                and self.bal.logsink is None):
            self.reactor.set_handler(self.dfd, self.on_down_plain)
            self.reactor.set_handler(self.ufd, self.on_up_plain)
        self.update()

    def handshake(self) -> None:
        """Drive the TLS handshake with the server, waiting on whichever way it needs."""
        up = self.up
        assert isinstance(up, ssl.SSLSocket), "handshake: wrap_upstream made it TLS"
        try:
            up.do_handshake()
        except ssl.SSLWantReadError:
            self._set_up_mask(EPOLLIN)
            return
        except ssl.SSLWantWriteError:
            self._set_up_mask(EPOLLOUT)
            return
        except (ssl.SSLError, OSError) as e:
            why = f"TLS handshake with server {self.server}: {getattr(e, 'reason', None) or e}"
            log.warning("%s", why)        # a certificate problem is worth seeing at -d 0
            self.bal.connect_done(self, why)
            return
        self.bal.connect_done(self, None)

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
                self.connect_event(ev)
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

    # -- the lean path: established plain TCP (bench/PROFILE.md, suggestion 6) ---------------
    def on_down_plain(self, ev: int) -> None:
        """Client -> server in one frame: recv_into the shared buffer, send, count.  Anything
        but a plain readable event, or a direction that splices, takes the general path."""
        if ev != EPOLLIN or not self.down_mask & EPOLLIN or self.pipe_u is not None:
            self.on_down(ev)
            return
        up, srv = self.up, self.srv
        assert up is not None and srv is not None, "established: both are set"
        try:
            n = self.down.recv_into(_buffer)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.abort(reset_client=False)
            return
        self.last = self.reactor.now
        if n == 0:
            self.down_eof = True
            self.after_eof()
            return
        srv, up = self.srv, self.up
        assert srv is not None and up is not None    # the lean handlers run once connected
        self.client.crx += n
        srv.sx += n
        if n == BUFSIZE:
            self.pipe_u = pipes.get()          # bulk upload: splice from now on
        try:
            sent = up.send(_view[:n])
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self.abort(reset_client=True)
            return
        if sent < n:
            self.to_up = bytes(_view[sent:n])
            self.update()

    def on_up_plain(self, ev: int) -> None:
        """Server -> client in one frame, as on_down_plain."""
        if ev != EPOLLIN or not self.up_mask & EPOLLIN or self.pipe_d is not None:
            self.on_up(ev)
            return
        up, srv = self.up, self.srv
        assert up is not None and srv is not None, "established: both are set"
        try:
            n = up.recv_into(_buffer)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.abort(reset_client=True)
            return
        self.last = self.reactor.now
        if n == 0:
            self.up_eof = True
            self.after_eof()
            return
        srv.rx += n
        self.client.csx += n
        if n == BUFSIZE:
            self.pipe_d = pipes.get()          # bulk download: splice from now on
        try:
            sent = self.down.send(_view[:n])
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self.abort(reset_client=False)
            return
        if sent < n:
            self.to_down = bytes(_view[sent:n])
            self.update()

    def read_down(self) -> None:
        """Client -> server (for TLS, also whatever the TLS layer has already decrypted)."""
        self._read_down_once()
        down = self.down
        while (self.tls and isinstance(down, ssl.SSLSocket) and not self.closed
               and self.to_up is None and not self.down_eof and self.connected
               and down.pending()):
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
            if self.rlog is not None and self.bal.logsink is not None:
                for text in self.rlog.at_eof():
                    self.bal.log_request(self, text)
            if self.rewriter is not None:
                held = self.rewriter.flush()
                if held:
                    self.send_up(held)
                    if self.closed:
                        return
            self.after_eof()
            return
        self.client.crx += n
        srv = self.srv
        assert srv is not None, "read only once connected"
        if n == BUFSIZE and self.pipe_u is None and self.rewriter is None and not self.tls \
                and not self.up_tls \
                and self.bal.logsink is None:
            self.pipe_u = pipes.get()          # bulk upload: splice from now on
        rw = self.rewriter
        data: bytes | memoryview
        if rw is not None:
            chunk = bytes(_view[:n])
            data, lines = rw.feed(chunk)
            if self.rlog is not None and self.bal.logsink is not None:
                for text in self.rlog.after_read(chunk, lines, rw.passthrough(), rw.undecided()):
                    self.bal.log_request(self, text)
            if data:
                srv.sx += len(data)
                self.send_up(data)
            if rw.rejected() and not self.closed:
                self.http_refuse(rw.rejected())
            elif rw.full():
                self.update()             # held bytes await the switch: stop reading
            return
        else:
            data = _view[:n]
            if self.bal.logsink is not None:
                self.bal.log_request(self, bytes(data))
        srv.sx += len(data)
        self.send_up(data)

    def send_up(self, data: bytes | memoryview) -> None:
        up = self.up
        assert up is not None, "sending up only once connected"
        try:
            sent = up.send(data)
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
        while (self.up_tls and isinstance(self.up, ssl.SSLSocket) and not self.closed
               and self.to_down is None and not self.up_eof and self.up.pending()):
            self._read_up_once()

    def _read_up_once(self) -> None:
        up, srv = self.up, self.srv
        assert up is not None and srv is not None, "read only once connected"
        try:
            n = up.recv_into(_buffer)
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
        srv.rx += n
        self.client.csx += n
        tracker = self.rewriter.responses if self.rewriter is not None else None
        if tracker is not None and tracker.done():
            tracker = None
        if (n == BUFSIZE and self.pipe_d is None and not self.tls and not self.up_tls
                and tracker is None and self.refuse == 0):
            self.pipe_d = pipes.get()          # bulk download: splice from now on
        data: bytes | memoryview = _view[:n]
        if tracker is not None:
            event = tracker.feed(data)
            if event or self.refuse > 0:
                copy = bytes(data)             # _view is reused by what the event sends up
                self._send_down(copy)
                if not self.closed:
                    self.response_event(event, tracker)
                return
        self._send_down(data)

    def _send_down(self, data: bytes | memoryview) -> None:
        n = len(data)
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

    def response_event(self, event: int, tracker: ResponseTracker) -> None:
        """-H: the server answered a pending protocol switch, or its responses can no longer
        be followed, or (refusing) it has answered every request forwarded before."""
        rw = self.rewriter
        if event in (httpresp.SWITCHED, httpresp.DECLINED) and rw is not None and rw.waiting():
            data, lines = rw.resolve(event == httpresp.SWITCHED)
            if lines and self.rlog is not None and self.bal.logsink is not None:
                for text in self.rlog.after_read(b"", lines, False, rw.undecided()):
                    self.bal.log_request(self, text)
            if data:
                if self.srv is not None:
                    self.srv.sx += len(data)
                self.send_up(data)
                if self.closed:
                    return
            if rw.rejected():
                self.http_refuse(rw.rejected())
                return
            self.after_eof() if self.down_eof else self.update()
        elif event == httpresp.LOST and rw is not None and rw.waiting():
            log.info("connection %d: server response not HTTP/1.x while a protocol switch "
                     "was pending; closing", self.index)
            self.close()
            return
        if self.refuse > 0 and tracker.outstanding() == 0:
            self._refuse_now()

    def http_refuse(self, status: int) -> None:
        """-H: the client sent bytes pen cannot frame as every server would (docs/pen.md, HTTP
        mode).  Forward nothing more; once the server has answered what was forwarded before
        (or closed), answer `status` and close."""
        if self.refuse:
            return
        self.refuse = status
        self.down_eof = True              # read nothing more from the client
        log.info("connection %d: client %s sent a request pen cannot frame; answering %d",
                 self.index, self.who.host or "unix", status)
        tracker = self.rewriter.responses if self.rewriter is not None else None
        if not self.connected or tracker is None or tracker.outstanding() == 0:
            self._refuse_now()
        else:
            self.after_eof()              # half-close towards the server once sent

    def _refuse_now(self) -> None:
        answer = httpresp.refusal(self.refuse)
        self.refuse = -1
        self.up_eof = self.down_eof = True
        self.to_up = None
        if self.up is not None and self.connected:
            self.shut |= SHUT_UP
        if self.to_down is None:
            self.to_down = answer
        elif isinstance(self.to_down, _Piped):
            self.after_pipe = answer      # the server's bytes in the pipe go first
        else:
            self.to_down += answer
        self.flush(True)

    def flush(self, towards_client: bool) -> None:
        """Send what is pending towards one side; on completion resume reading the other."""
        sock = self.down if towards_client else self.up
        pending = self.to_down if towards_client else self.to_up
        rest: bytes | _Piped | None
        if isinstance(pending, _Piped):
            left = self.drain_pipe(towards_client)
            if left < 0:
                return
            if not left and towards_client and self.after_pipe:
                self.to_down, self.after_pipe = self.after_pipe, b""
                self.flush(True)          # the pipe is empty: the refusal follows it
                return
            rest = PIPED if left else None
        elif pending is None or sock is None:
            return
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
            down, up = self.down, self.up
            if (not towards_client and self.tls and isinstance(down, ssl.SSLSocket)
                    and not self.closed and down.pending()):
                self.read_down()      # decrypted bytes wait in the TLS layer, not the socket
            if (towards_client and self.up_tls and isinstance(up, ssl.SSLSocket)
                    and not self.closed and up.pending()):
                self.read_up()

    # -- splice (bulk) --------------------------------------------------------------------------
    def splice_in(self, towards_client: bool) -> None:
        """Move what the source has into the direction's pipe, then on to the destination."""
        pipe = self.pipe_d if towards_client else self.pipe_u
        assert pipe is not None, "splicing without a pipe"
        src = self.ufd if towards_client else self.dfd
        srv = self.srv
        assert pipe is not None and srv is not None, "splicing: the direction has its pipe"
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
        srv = _server(self)
        if towards_client:
            srv.rx += n
            self.client.csx += n
            self.piped_d += n
        else:
            srv.sx += n
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
        pipe = self.pipe_d if towards_client else self.pipe_u
        assert pipe is not None, "draining: the direction has its pipe"
        if towards_client:
            rfd, dst, left = pipe[0], self.dfd, self.piped_d
        else:
            rfd, dst, left = pipe[0], self.ufd, self.piped_u
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
        if self.refuse > 0 and self.up_eof:
            self._refuse_now()           # the server closed: answer the refused request now
            return
        fast = self.bal.state.settings.tcp_fastclose
        # both ways finished: close() sends each FIN itself (every byte was read, so no RST),
        # and a shutdown(SHUT_WR) just before it would be a wasted syscall
        done = self.down_eof and self.up_eof and self.to_up is None and self.to_down is None
        if (self.down_eof and self.to_up is None and not self.shut & SHUT_UP
                and not (self.rewriter is not None and self.rewriter.waiting())):
            if fast in ("down", "both") and not self.refuse:    # a refusal is not the client
                self.close()                                      # closing: answer it first
                return
            self.shut |= SHUT_UP
            if not self.up_tls and not done:    # TLS has no half-close: wait for the server
                self._shutdown(self.up)
        if self.up_eof and self.to_down is None and not self.shut & SHUT_DOWN:
            if fast in ("up", "both") or self.tls:    # no TLS half-close: close_notify ends it
                self.close()
                return
            self.shut |= SHUT_DOWN
            if not done:
                self._shutdown(self.down)
        if done:
            self.close()
        else:
            self.update()

    @staticmethod
    def _shutdown(sock: socket.socket | None) -> None:
        if sock is not None:
            try:
                sock.shutdown(_SHUT_WR)
            except OSError:
                pass

    def abort(self, reset_client: bool) -> None:
        """An error on one side: reset the other so the peer knows the stream is broken."""
        other = self.down if reset_client else self.up
        if reset_client:
            self.tls = False             # no close_notify: the client must see a broken stream
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
        if self.tls and isinstance(self.down, ssl.SSLSocket):
            # close_notify: OpenSSL keeps a session in the server cache only after a clean
            # shutdown, and resumption by session ID needs it there (issue 18)
            down = self.down
            try:
                if isinstance(down, ssl.SSLSocket):
                    down.unwrap()
            except (ssl.SSLError, OSError, ValueError):
                pass
        self.down.close()
        if self.pipe_u is not None:
            pipes.put(self.pipe_u, self.piped_u == 0)
            self.pipe_u = None
        if self.pipe_d is not None:
            pipes.put(self.pipe_d, self.piped_d == 0)
            self.pipe_d = None
        self.detach_upstream()
        self.bal.connection_closed(self)

    # -- interest masks ------------------------------------------------------------------------
    def update(self) -> None:
        if self.closed:
            return
        if self.connected:
            dm = EPOLLIN if not self.down_eof and self.to_up is None else 0
            if dm and self.rewriter is not None and self.rewriter.full():
                dm = 0                   # -H: held bytes wait for the server's switch
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


def _server(conn: Conn) -> Server:
    """The server of a connection past its connect (start_connect set it)."""
    srv = conn.srv
    assert srv is not None, "no server before the connect"
    return srv


def _pending(sock: socket.socket | None) -> int:
    """Decrypted bytes a TLS socket holds beyond what the kernel socket shows (0 for plain)."""
    return sock.pending() if isinstance(sock, ssl.SSLSocket) else 0


def stream_socket(family: int, flags: int = 0, fd: int | None = None) -> socket.socket:
    """A TCP (or unix stream) socket object for the data path: CPython's C socket type itself.
    socket.py's subclass adds a Python __init__ and close() wrapper (and enum conversions) that
    cost about 1.5 µs per connection (bench/PROFILE.md), for features the data path never uses
    (makefile, context manager, sendfile).  It has every method pen calls on a client or server
    socket, and ssl.SSLContext.wrap_socket takes it; the cast is for the annotations (typeshed
    names the subclass), so nothing here may test isinstance(x, socket.socket)."""
    return cast(socket.socket, _c_socket(family, _STREAM | flags, 0, fd))


def connect_error(sock: socket.socket) -> int:
    """The outcome of a non-blocking connect (SO_ERROR)."""
    try:
        return sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    except OSError as e:
        return e.errno or errno.EIO
