"""The balancer shell: accepts clients and carries out the dispatcher's steps on sockets.

Every decision about servers and clients (admission, which server, blacklisting, failover, the
wait queue, idle expiry) is `pen.core.balance.dispatch`'s; this module accepts, starts connects, reports
their outcome and does what the ticket's step says (docs/architecture.md).  The connect phase
itself (TCP, then TLS where wanted, the PROXY header) is `Conn`'s, which reports back through
`connect_done`.  Public surface used by the control port and the CLI: `state`, `dispatcher`,
`reactor`, `conns`, `open_listener`, `relisten`, `set_log`, `close_connection`,
`socket_owner`, `apply_server_spec`, `run`, `shutdown`.
"""
from __future__ import annotations

import errno
import logging
import os
import socket
import ssl
import time
from typing import TYPE_CHECKING, Callable, Final

from pen.core.addr import parse_listen, parse_server
from pen.core.balance import connslots, selection
from pen.core.balance.dispatch import CONNECT, REFUSE, RETRY, RETRY_DELAY, Dispatcher, Ticket
from pen.core.balance.servers import Server
from pen.core.balance.state import PenState
from pen.core.balance.store import Store
from pen.core.formats import accesslog
from pen.core.formats.httphead import RequestRewriter
from pen.core.requestlog import ReadLog
from pen.engine import listener as listeners
from pen.engine import tls
from pen.engine.conn import CONNECT_UNDER_WAY, NODELAY, Conn, stream_socket
from pen.engine.health import HealthChecker
from pen.engine.logsink import LogSink, open_logsink
from pen.engine.reactor import EPOLLIN, Reactor
from pen.resolve import resolve_endpoint
from pen.settings import DSR_PSEUDO_PORT, dsr_all_ports

if TYPE_CHECKING:
    import ssl

    from pen.core.control import Interpreter
    from pen.core.history import History
    from pen.engine.tlsaccept import TlsHandshake
    from pen.engine.udp import UdpBalancer

# UDP, PROXY, TLS termination and `dummy` are imported where a listener or connection first
# needs them: pen's start-up imports only what its options use (issue 16).  A chrooted pen
# imports them before the chroot: a new one of these goes into daemon.BEFORE_CHROOT too.

log = logging.getLogger("pen")
_LOG_LEVEL = {"info": logging.INFO, "warning": logging.WARNING}

# errors that mean pen (not the server) lacks something: descriptors, memory, local ports
LOCAL_SHORTAGE: Final = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM,
                          errno.EADDRNOTAVAIL)


class Balancer:
    def __init__(self, state: PenState, store: Store | None = None,
                 checks: bool = True, clock: Callable[[], float] = time.monotonic) -> None:
        """`checks`: run the health checks here (not in a worker: the main process runs them).
        `clock`: monotonic seconds for every decision (a fake one in the in-process tests)."""
        self.state = state
        self.dispatcher = Dispatcher(state, store)
        self.reactor = Reactor(max_wait=1.0, clock=clock)
        self.conns: list[Conn | None] = [None] * state.settings.conn_max
        self.slots = connslots.SlotTable(state.settings.conn_max)   # numbered as C numbers them
        self.listen_sock: socket.socket | None = None
        self.listen_text: str | None = None
        self.listen_port = ""
        self.accepting = False
        self.accepts_here = True             # False in the main process of --workers
        self.logsink: LogSink | None = None
        self.udp: UdpBalancer | None = None  # in -U mode
        self.started = time.time()
        self.mono_offset = time.time() - clock()   # monotonic -> wall clock
        self.on_exit: list[Callable[[], None]] = []
        self.tls_ctx: ssl.SSLContext | None = None       # with -E
        self.backend_ctx: ssl.SSLContext | None = None   # client side, for TLS to servers
        self.backend_ctx_key: tuple | None = None
        self.handshakes: dict[TlsHandshake, None] = {}   # TLS clients not admitted yet, oldest first
        self.health = HealthChecker(self) if checks else None
        self.interp: Interpreter | None = None   # its control interpreter (control_server)
        self.history: History | None = None      # its load history (history_glue)
        self.handed_over = False             # the listener went to a new pen (takeover)
        self.reload_waiting = False          # a SIGHUP re-read waits on its name lookups
        self.reload_again = False            # ... and another SIGHUP came meanwhile
        self.reactor.every(1.0, self.housekeeping)
        self.reactor.idle_hooks.append(self.after_pass)

    @property
    def nconns(self) -> int:
        return self.dispatcher.nconns

    # -- listener ---------------------------------------------------------------------------
    def open_listener(self, text: str, sock: socket.socket | None = None) -> None:
        """Listen on `text` (C syntax) or adopt an already bound socket (socket activation)."""
        s = self.state.settings
        endpoint = parse_listen(text)
        if sock is None:
            sock = listeners.open_listener(endpoint, udp=s.udp, backlog=s.backlog)
        self.close_listener()
        self.listen_sock = sock
        self.listen_text = text
        self.listen_port = "" if endpoint.unix else str(listeners.bound_port(sock))
        if not s.udp and sock.family != socket.AF_UNIX:
            # Linux copies TCP_NODELAY from the listener into every socket it accepts, which
            # saves a setsockopt per connection (latency matters more than segment count).
            # A connection already queued when the option is set (socket activation) keeps
            # Nagle: a few at start-up, and only their latency
            sock.setsockopt(*NODELAY)
        if s.udp:
            from pen.engine.udp import UdpBalancer
            self.udp = UdpBalancer(self, sock)
        else:
            self.reactor.add(sock.fileno(), 0, self.on_accept)
            self.accepting = False
            self.resume_accept()

    def close_listener(self) -> None:
        if self.listen_sock is not None:
            if self.udp is not None:
                self.udp.close()
                self.udp = None
            self.reactor.remove(self.listen_sock.fileno())
            self.listen_sock.close()
            self.listen_sock = None

    def detach_listener(self) -> socket.socket:
        """--workers: the workers accept; this process keeps the socket but stops polling it."""
        sock = self.listen_sock
        assert sock is not None
        self.reactor.remove(sock.fileno())
        self.udp = None
        self.accepting = self.accepts_here = False
        return sock

    def relisten(self, text: str) -> str:
        """penctl `listen ADDR`: move the listener; on error keep the old one."""
        old_sock, old_text = self.listen_sock, self.listen_text
        endpoint = parse_listen(text)
        sock = listeners.open_listener(endpoint, udp=self.state.settings.udp,
                                       backlog=self.state.settings.backlog)
        if old_sock is not None:
            self.close_listener()
        self.open_listener(text, sock)
        log.info("listening on %s (was %s)", text, old_text)
        return text

    def pause_accept(self) -> None:
        if self.accepting and self.listen_sock is not None and self.udp is None:
            self.accepting = False
            self.reactor.set_mask(self.listen_sock.fileno(), 0)

    def resume_accept(self) -> None:
        if (self.udp is not None and self.accepts_here
                and (self.health is None or not self.health.holding())):
            self.udp.resume()
        if (not self.accepting and self.listen_sock is not None and self.udp is None
                and self.accepts_here and self.dispatcher.can_accept(self.reactor.now)
                and (self.health is None or not self.health.holding())):
            self.accepting = True
            self.reactor.set_mask(self.listen_sock.fileno(), EPOLLIN)

    def pause_briefly(self) -> None:
        """pen is short of descriptors: stop accepting, look again after RETRY_DELAY."""
        self.pause_accept()
        self.reactor.call_later(RETRY_DELAY, self.resume_accept)

    def on_accept(self, ev: int) -> None:
        s = self.state.settings
        lsock = self.listen_sock
        if lsock is None:
            return
        family = lsock.family
        # the fd, without socket.accept()'s enum work (CPython's private method, not in typeshed)
        accept = lsock._accept                # type: ignore[attr-defined]
        can_accept = self.dispatcher.can_accept
        for _ in range(s.multi_accept):
            if not can_accept(self.reactor.now):
                self.pause_accept()
                return
            try:
                fd, addr = accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    # Out of descriptors: stop accepting for a moment instead of spinning.
                    log.warning("accept: %s; pausing accepts for %s s", e.strerror, RETRY_DELAY)
                    self.dispatcher.accept_failed(self.reactor.now)
                    self.pause_briefly()
                    return
                if e.errno in (errno.ECONNABORTED, errno.EPROTO, errno.EPERM):
                    continue
                raise
            self.new_connection(stream_socket(family, fd=fd), addr)

    # -- a new client ------------------------------------------------------------------------
    def new_connection(self, sock: socket.socket, addr: tuple | str) -> None:
        s = self.state.settings
        sock.setblocking(False)
        if isinstance(addr, tuple):
            host, port = addr[0], addr[1]      # TCP_NODELAY came from the listener
        else:
            host, port = "", 0
        self.dispatcher.accepted()
        if s.accept_proxy:
            from pen.engine.proxyin import ProxyReader
            ProxyReader(self, sock, host, port).start()     # then admit() with the real client
            return
        self.admit(sock, host, port)

    def admit(self, sock: socket.socket, host: str, port: int,
              dst: tuple[str, int] | None = None) -> None:
        """The client's real address is known: TLS handshake first (no server is chosen or
        connected before it completes: pen/engine/tlsaccept.py), then select and connect."""
        if self.tls_ctx is not None:
            try:
                tsock = self.tls_ctx.wrap_socket(sock, server_side=True,
                                                 do_handshake_on_connect=False)
            except (OSError, ValueError) as e:
                log.info("TLS setup for %s failed: %s", host, e)
                self.dispatcher.refuse_unadmitted()
                sock.close()
                return
            from pen.engine.tlsaccept import TlsHandshake
            TlsHandshake(self, tsock, host, port, dst).start()
            return
        self.start_client(sock, host, port, dst)

    def start_client(self, sock: socket.socket, host: str, port: int,
                     dst: tuple[str, int] | None = None) -> None:
        """Admit a client: the dispatcher chooses, this carries its step out."""
        s = self.state.settings
        if self.slots.full():
            sock.close()
            return
        ticket = self.dispatcher.admit(host, port, self.reactor.now)
        index = self.slots.take()
        conn = Conn(self, index, sock, ticket)
        ticket.owner = conn
        conn.dst = dst
        self.conns[index] = conn
        if s.dummy:
            from pen.engine.dummy import serve_dummy
            serve_dummy(conn)             # penctl `dummy`: pen answers itself
            return
        if self.logsink is not None or s.http:
            proto = "https" if s.ssl_cert else "http"
            conn.rewriter = RequestRewriter(host or "unix", proto, rewrite=s.http)
            conn.rlog = ReadLog()
        self.carry_out(conn)

    def carry_out(self, conn: Conn) -> None:
        """Do what the connection's ticket says, until a connect is under way or it is done:
        CONNECT (a connect that fails at once gives the next step), RETRY later, REFUSE."""
        d = self.dispatcher
        ticket = conn.ticket
        while True:
            step = ticket.step
            if step == CONNECT:
                srv = ticket.srv
                assert srv is not None, "a CONNECT step names its server"
                err = conn.start_connect(srv)
                if err in CONNECT_UNDER_WAY:
                    self.connect_started(conn, err == 0)
                    return
                conn.detach_upstream()
                if err in LOCAL_SHORTAGE:
                    d.connect_failed(ticket, self.reactor.now, os.strerror(err),
                                     local_shortage=True)
                else:
                    d.connect_failed(ticket, self.reactor.now,
                                     f"connect failure ({os.strerror(err)})")
                continue
            if step == RETRY:
                # pen lacks descriptors, not the server: the client waits and tries again
                self.pause_briefly()
                self.reactor.call_later(RETRY_DELAY, lambda: self.retry(conn))
            elif step == REFUSE:
                conn.close()
            return

    def retry(self, conn: Conn) -> None:
        if not conn.closed:
            self.dispatcher.retry(conn.ticket, self.reactor.now)
            self.carry_out(conn)

    def connect_started(self, conn: Conn, at_once: bool) -> None:
        """The connect to the ticket's server is under way (or done, `at_once`)."""
        srv, up = conn.srv, conn.up
        assert srv is not None and up is not None, "start_connect set both"
        if self.logsink is not None:
            conn.local_port = _local_port(up)
        if at_once and not self.wants_tls(srv):
            self.dispatcher.connect_started(conn.ticket, self.reactor.now, established=True)
            self._established(conn)
            return
        self.dispatcher.connect_started(conn.ticket, self.reactor.now)
        if at_once:
            conn.tcp_connected()              # connected at once, TLS still to do
        else:
            conn.update()
        if not self.dispatcher.can_accept(self.reactor.now):
            self.pause_accept()

    def connect_done(self, conn: Conn, error: str | None) -> None:
        """Conn's report: the connect (TCP, and TLS where configured) succeeded or failed."""
        if error is None:
            self.dispatcher.connected(conn.ticket)
            self._established(conn)
        else:
            self.dispatcher.connect_failed(conn.ticket, self.reactor.now, error)
            conn.detach_upstream()
            self.carry_out(conn)
        self.resume_accept()

    def wants_tls(self, srv: Server) -> bool:
        return bool(srv.tls if srv.tls >= 0 else self.state.settings.backend_tls)

    def _established(self, conn: Conn) -> None:
        """The upstream connect completed: PROXY header (unless TLS already sent it), forward."""
        if not conn.up_tls and not self.send_proxy_header(conn):
            conn.established()
            conn.abort(reset_client=True)
            return
        conn.established()

    def send_proxy_header(self, conn: Conn) -> bool:
        srv, up = conn.srv, conn.up
        assert srv is not None and up is not None, "connected: start_connect set both"
        version = srv.send_proxy if srv.send_proxy >= 0 else self.state.settings.send_proxy
        if not version:
            return True
        header = proxy_header(conn, version)
        try:
            return up.send(header) == len(header)     # a fresh socket takes it at once
        except OSError:
            return False

    def wrap_upstream(self, conn: Conn) -> bool:
        """TLS towards the server, verified against backend_tls_ca (or the system's CAs)."""
        s = self.state.settings
        key = (s.backend_tls_ca, s.backend_tls_noverify)
        srv, up = conn.srv, conn.up
        assert srv is not None and up is not None, "connected: start_connect set both"
        try:
            ctx = self.backend_ctx
            if ctx is None or self.backend_ctx_key != key:
                ctx = self.backend_ctx = tls.backend_context(s)
                self.backend_ctx_key = key
            conn.up = ctx.wrap_socket(
                up, server_side=False, do_handshake_on_connect=False,
                server_hostname=None if s.backend_tls_noverify else srv.host)
        except (OSError, ValueError, tls.TlsError) as e:
            log.error("TLS to server %d: %s", conn.server, e)
            return False
        conn.up_tls = True
        return True

    def after_pass(self) -> None:
        """After every loop pass: connect timeouts (-t; the dispatcher sweeps at most every
        50 ms, cheaper per connection than a heap timer per connect) and the dispatcher's
        notes to the log."""
        d = self.dispatcher
        if d.connecting:
            for ticket, late in d.expired_connects(self.reactor.now):
                if late.check is not None and self.health is not None:
                    self.health.client_connect_timeout(late)     # a failed probe too
                conn = _conn(ticket)
                if conn is not None:
                    conn.detach_upstream()
                    self.carry_out(conn)
                self.resume_accept()
        if d.notes:
            for level, message in d.take_notes():
                log.log(_LOG_LEVEL[level], "%s", message)

    def connection_closed(self, conn: Conn) -> None:
        """Conn closed: free its slot; a place freed may let waiting clients in."""
        self.conns[conn.index] = None
        self.slots.release(conn.index, conn.client.slot, conn.server)
        self.carry_out_all(self.dispatcher.closed(conn.ticket, self.reactor.now))
        self.resume_accept()

    def carry_out_all(self, tickets: list[Ticket]) -> None:
        """Tickets the dispatcher handed back from the wait queue, each with a place on a
        server reserved: every one is carried out by its owner (a Conn, or a UDP flow), which
        connects it or closes it, so no reserved place is left behind."""
        for ticket in tickets:
            waiting = _conn(ticket)
            if waiting is not None:
                self.carry_out(waiting)
            elif self.udp is not None:
                self.udp.carry_out(ticket)
            else:
                self.dispatcher.closed(ticket, self.reactor.now)

    # -- TLS ------------------------------------------------------------------------------------
    def load_tls(self) -> None:
        """Build the TLS context from the settings (start-up: errors are fatal)."""
        self.tls_ctx = tls.build_context(self.state.settings)

    def reload_tls(self) -> None:
        """SIGHUP: pick up renewed certificates; on error keep serving with the old ones."""
        if not self.state.settings.ssl_cert:
            return
        try:
            self.tls_ctx = tls.build_context(self.state.settings)
            log.info("TLS certificates reloaded")
        except tls.TlsError as e:
            log.error("TLS reload failed, keeping the current certificates: %s", e)

    # -- access log -----------------------------------------------------------------------------
    def set_log(self, target: str | None) -> None:
        if self.logsink is not None:
            self.logsink.close()
            self.logsink = None
        self.state.settings.logfile = target
        if target:
            settings = self.state.settings
            self.logsink = open_logsink(target, lambda: settings.log_ports)

    def reopen_log(self) -> None:
        if self.logsink is not None:
            self.logsink.reopen()

    def log_request(self, conn: Conn, chunk: bytes) -> None:
        self.log_request_for(conn.who, conn.srv, conn.local_port, chunk)

    def log_request_for(self, who: selection.ClientAddr, srv: Server | None, local_port: int,
                        chunk: bytes) -> None:
        entry = accesslog.PenEntry(
            client=who.host or "unix", client_port=who.port,
            server=srv.host if srv is not None else "", server_port=srv.port if srv else 0,
            local_port=local_port, epoch=int(time.time()),
            request=accesslog.request_text(chunk))
        if self.logsink is not None:
            self.logsink.write(entry)
        if self.state.settings.debug >= 3:
            log.debug("%s", accesslog.file_line(entry).rstrip("\n"))

    # -- control-port helpers -------------------------------------------------------------------
    def apply_server_spec(self, index: int, text: str) -> Server:
        """Set server `index` from a command-line spec (resets its limits, as C does)."""
        spec = parse_server(text, self.listen_port_for_specs())
        family, host, port, sockaddr = resolve_endpoint(spec.endpoint, udp=self.state.settings.udp)
        srv = self.state.servers.ensure(index) if index >= 0 else Server(index)
        srv.set_address(family, host, port, sockaddr)
        srv.reset_limits(spec.maxc, spec.hard, spec.weight, spec.prio)
        return srv

    def listen_port_for_specs(self) -> str:
        if self.listen_port:
            return self.listen_port
        if dsr_all_ports(self.state.settings):
            return DSR_PSEUDO_PORT
        text = self.state.settings.listen
        if text and "/" not in text:
            return parse_listen(text).port
        return ""

    def close_connection(self, index: int) -> bool:
        if not 0 <= index < len(self.conns):
            return False
        conn = self.conns[index]
        if conn is not None:
            conn.close()
        return True

    def socket_owner(self, fd: int) -> int:
        for conn in self.conns:
            if conn is not None and fd in (conn.dfd, conn.ufd):
                return conn.index
        return -1

    def grow_conn_max(self, n: int) -> int:
        s = self.state.settings
        if n > s.conn_max:
            self.conns.extend([None] * (n - s.conn_max))
            self.slots.grow(n)
            s.conn_max = n
            self.resume_accept()
        return s.conn_max

    def wall(self, mono: float) -> float:
        return mono + self.mono_offset

    # -- periodic work ----------------------------------------------------------------------------
    def housekeeping(self) -> None:
        d = self.dispatcher
        now = self.reactor.now
        if d.idle_before() is not None:
            live = [(c.ticket, c.last) for c in self.conns if c is not None]
            for ticket in d.idle(now, live):
                idler = _conn(ticket)
                if idler is not None:
                    log.info("closing idle connection %d", idler.index)
                    idler.close()
        if self.udp is not None:
            self.udp.expire(now)
        self.carry_out_all(d.tick(now))
        self.resume_accept()

    # -- running -------------------------------------------------------------------------------
    def run(self) -> None:
        self.reactor.run()

    def shutdown(self) -> None:
        """SIGTERM: close everything (docs/pen.md "Signals")."""
        self.reactor.stop()
        for hs in list(self.handshakes):
            hs.finish()
            hs.sock.close()
        for conn in list(self.conns):
            if conn is not None:
                conn.close()
        self.close_listener()
        if self.logsink is not None:
            self.logsink.close()
        for hook in self.on_exit:
            hook()


def proxy_header(conn: Conn, version: int) -> bytes:
    """PROXY v1/v2 for this client: its address, and the address it connected to."""
    try:
        local = conn.down.getsockname()
    except OSError:
        local = None
    src, sport = conn.who.host, conn.who.port
    if not src or not isinstance(local, tuple):
        src, sport, dst, dport = "", 0, "", 0
    else:
        dst, dport = conn.dst if conn.dst else (local[0], local[1])
    from pen.core.formats.proxyproto import encode_v1, encode_v2
    return (encode_v2 if version == 2 else encode_v1)(src, sport, dst, dport)


def _conn(ticket: Ticket) -> Conn | None:
    """The TCP connection a ticket belongs to (None for a UDP flow's ticket)."""
    owner = ticket.owner
    return owner if isinstance(owner, Conn) else None


def _local_port(sock: socket.socket) -> int:
    try:
        name = sock.getsockname()
    except OSError:
        return 0
    return name[1] if isinstance(name, tuple) else 0
