"""The balancer shell: accepts clients, asks the core which server, connects, fails over.

Everything that decides lives in `pen.core`; this module only carries the decisions out on
sockets and the reactor's clock (spec/architecture.md).  Public surface used by the control
port and the CLI: `state`, `reactor`, `conns`, `open_listener`, `relisten`, `set_log`,
`close_connection`, `socket_owner`, `apply_server_spec`, `run`, `shutdown`.
"""
from __future__ import annotations

import errno
import logging
import os
import socket
import time
from collections import deque
from typing import Callable

from pen.core import accesslog, selection
from pen.core.addr import parse_listen, parse_server
from pen.core.httphead import RequestRewriter
from pen.core.proxyproto import encode_v1, encode_v2
from pen.core.servers import DROP, NO_SERVER, Server
from pen.core.state import PenState
from pen.engine import listener as listeners
from pen.engine import tls, transparent
from pen.engine.conn import Conn, connect_error
from pen.engine.dummy import serve_dummy
from pen.engine.health import HealthChecker
from pen.engine.proxyin import ProxyReader
from pen.engine.logsink import LogSink, open_logsink
from pen.engine.reactor import EPOLLERR, EPOLLHUP, EPOLLIN, Reactor
from pen.engine.udp import UdpBalancer
from pen.resolve import resolve_endpoint
from pen.settings import DSR_PSEUDO_PORT, dsr_all_ports

log = logging.getLogger("pen")

_NODELAY = (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
# errors that mean pen (not the server) lacks something: descriptors, memory, local ports
LOCAL_SHORTAGE = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM, errno.EADDRNOTAVAIL)


class Balancer:
    def __init__(self, state: PenState) -> None:
        self.state = state
        self.reactor = Reactor(max_wait=1.0)
        self.conns: list[Conn | None] = [None] * state.settings.conn_max
        self.free_slots: list[int] = list(range(state.settings.conn_max - 1, -1, -1))
        self.nconns = 0
        self.pending = 0
        self.listen_sock: socket.socket | None = None
        self.listen_text: str | None = None
        self.listen_port = ""
        self.accepting = False
        self.logsink: LogSink | None = None
        self.udp = None                      # pen.engine.udp.UdpBalancer in -U mode
        self.started = time.time()
        self.mono_offset = time.time() - time.monotonic()   # monotonic -> wall clock
        self.on_exit: list[Callable[[], None]] = []
        self.tls_ctx = None                  # ssl.SSLContext with -E
        self.backend_ctx = None              # client-side context for TLS to servers
        self.backend_ctx_key: tuple | None = None
        self.connections_total = 0
        self.refused_total = 0
        self.queue: deque[Conn] = deque()     # clients waiting for a server with room
        self.connecting: dict[Conn, float] = {}   # connects in progress -> their deadline
        self.next_sweep = 0.0
        self.queued_total = 0
        self.health = HealthChecker(self)
        self.handed_over = False             # the listener went to a new pen (takeover)
        self.reactor.every(1.0, self.housekeeping)
        self.reactor.idle_hooks.append(self.sweep_connects)

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
        if s.udp:
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
        s = self.state.settings
        if (not self.accepting and self.listen_sock is not None and self.udp is None
                and self.nconns < s.conn_max and self.pending < s.pending_max):
            self.accepting = True
            self.reactor.set_mask(self.listen_sock.fileno(), EPOLLIN)

    def on_accept(self, ev: int) -> None:
        s = self.state.settings
        lsock = self.listen_sock
        family = lsock.family
        accept = lsock._accept                # the fd, without socket.accept()'s enum work
        for _ in range(s.multi_accept):
            if self.nconns >= s.conn_max or self.pending >= s.pending_max:
                self.pause_accept()
                return
            try:
                fd, addr = accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    # Out of descriptors: stop accepting for a moment instead of spinning.
                    log.warning("accept: %s; pausing accepts for 0.1 s", e.strerror)
                    self.pause_accept()
                    self.reactor.call_later(0.1, self.resume_accept)
                    return
                if e.errno in (errno.ECONNABORTED, errno.EPROTO, errno.EPERM):
                    continue
                raise
            self.new_connection(socket.socket(family, socket.SOCK_STREAM, 0, fd), addr)

    # -- a new client ------------------------------------------------------------------------
    def new_connection(self, sock: socket.socket, addr: tuple | str) -> None:
        s = self.state.settings
        sock.setblocking(False)
        if isinstance(addr, tuple):
            host, port = addr[0], addr[1]
            sock.setsockopt(*_NODELAY)     # always: latency matters more than segment count
        else:
            host, port = "", 0
        self.connections_total += 1
        if s.accept_proxy:
            ProxyReader(self, sock, host, port).start()     # then admit() with the real client
            return
        self.admit(sock, host, port)

    def admit(self, sock: socket.socket, host: str, port: int,
              dst: tuple[str, int] | None = None) -> None:
        """The client's real address is known: set up TLS, select a server, connect."""
        if self.tls_ctx is not None:
            try:
                sock = self.tls_ctx.wrap_socket(sock, server_side=True,
                                                do_handshake_on_connect=False)
            except (OSError, ValueError) as e:
                log.info("TLS setup for %s failed: %s", host, e)
                sock.close()
                return
        self.start_client(sock, host, port, dst)

    def start_client(self, sock: socket.socket, host: str, port: int,
                     dst: tuple[str, int] | None = None) -> None:
        """Select a server for a client and start connecting."""
        st = self.state
        s = st.settings
        now = self.reactor.now
        if not self.free_slots:
            sock.close()
            return
        client = st.clients.store(host, now, s.tracking)
        who = selection.ClientAddr(host, port)
        initial, first = selection.choose(st, client, who, now)
        index = self.free_slots.pop()
        conn = Conn(self, index, sock, client, who, initial)
        conn.dst = dst
        self.conns[index] = conn
        self.nconns += 1
        if s.dummy:
            serve_dummy(conn)             # penctl `dummy`: pen answers itself (§3.4)
            return
        if self.logsink is not None or s.http:
            proto = "https" if s.ssl_cert else "http"
            conn.rewriter = RequestRewriter(host or "unix", proto, rewrite=s.http)
        if initial == DROP:
            log.info("client %s denied by client_acl %d", host, s.client_acl)
            self.refused_total += 1
            conn.close()
            return
        self.connect(conn, first)

    def connect(self, conn: Conn, index: int) -> None:
        """Try servers from `index` on, failing over, until a connect starts or none is left."""
        st = self.state
        now = self.reactor.now
        while True:
            if index in (NO_SERVER, DROP):
                if index == NO_SERVER and self._enqueue(conn):
                    return
                log.info("no server for client %s; closing", conn.who.host or "unix")
                self.refused_total += 1
                conn.close()
                return
            srv = st.servers.get(index)
            up, err = self._start_connect(srv, conn.who.host)
            if up is not None and err in (0, errno.EINPROGRESS, errno.EAGAIN):
                conn.attach_upstream(up, index, srv)
                selection.record_choice(st, conn.client, index)
                if self.logsink is not None:
                    conn.local_port = _local_port(up)
                if err == 0 and not self._wants_tls(srv):
                    srv.c += 1
                    srv.total += 1
                    srv.status = float("-inf")
                    self._established(conn)
                    return
                srv.pending += 1
                self.pending += 1
                self.connecting[conn] = now + st.settings.timeout
                if err == 0:
                    self._tcp_connected(conn)     # connected at once, TLS still to do
                else:
                    conn.update()
                if self.pending >= st.settings.pending_max:
                    self.pause_accept()
                return
            if up is None and err in LOCAL_SHORTAGE:
                self._short_of_resources(conn, index, err)
                return
            self.blacklist(srv, index, now, f"connect failure ({os.strerror(err)})")
            index = selection.next_failover(st, index, conn.initial, conn.client, conn.who, now)

    def _short_of_resources(self, conn: Conn, index: int, err: int) -> None:
        """pen itself is out of descriptors (or memory, or local ports): not the server's
        fault, so no blacklisting (C pen and pen-ha before issue 10 blacklisted every server
        in turn and refused clients for 30 s).  Stop accepting for a moment; the client waits
        and retries for up to the connect timeout, then is closed."""
        self.pause_accept()
        self.reactor.call_later(0.1, self.resume_accept)
        if self.reactor.now - conn.opened > self.state.settings.timeout:
            log.warning("%s for client %s; closing it", os.strerror(err), conn.who.host or "unix")
            self.refused_total += 1
            conn.close()
            return
        self.reactor.call_later(0.1, lambda: None if conn.closed else self.connect(conn, index))

    def _start_connect(self, srv: Server,
                       client_host: str = "") -> tuple[socket.socket | None, int]:
        s = self.state.settings
        try:
            up = socket.socket(srv.family, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
        except OSError as e:
            return None, e.errno or errno.EMFILE
        try:
            if srv.family != socket.AF_UNIX:
                up.setsockopt(*_NODELAY)
                if s.keepalive:
                    up.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                if s.source:
                    up.bind((s.source, 0))
                elif s.transparent and srv.family == socket.AF_INET and client_host:
                    transparent.bind_to_client(up, client_host)      # issue 11, §1.11
            err = up.connect_ex(srv.sockaddr)
        except OSError as e:
            err = e.errno or errno.EIO
        if err not in (0, errno.EINPROGRESS, errno.EAGAIN):
            up.close()
            return None, err
        return up, err

    def connect_event(self, conn: Conn, ev: int) -> None:
        """The upstream socket became writable (or failed) while connecting.  Writable with no
        error or hang-up flag means connected: SO_ERROR is asked only when something failed."""
        err = connect_error(conn.up) if ev & (EPOLLERR | EPOLLHUP) else 0
        if err == 0 and self._wants_tls(conn.srv):
            self._tcp_connected(conn)
            return
        self._connect_done(conn, None if err == 0 else os.strerror(err))

    def _connect_done(self, conn: Conn, error: str | None) -> None:
        """The connect (TCP, and TLS where configured) succeeded or failed."""
        srv = conn.srv
        srv.pending -= 1
        self.pending -= 1
        if error is None:
            srv.c += 1
            srv.total += 1
            self._established(conn)
        else:
            self._connect_failed(conn, error)
        self.resume_accept()

    def _wants_tls(self, srv: Server) -> bool:
        return bool(srv.tls if srv.tls >= 0 else self.state.settings.backend_tls)

    def _tcp_connected(self, conn: Conn) -> None:
        """TCP is up and TLS is wanted: PROXY header in clear first, then the handshake, which
        counts as part of connecting (the -t timeout covers it; a failure fails over)."""
        if not self._send_proxy_header(conn):
            self._connect_done(conn, "could not send the PROXY header")
            return
        if not self._wrap_upstream(conn):
            self._connect_done(conn, "TLS set-up failed")
            return
        conn.handshake()

    def _established(self, conn: Conn) -> None:
        """The upstream connect completed: PROXY header (unless TLS already sent it), forward."""
        if not conn.up_tls and not self._send_proxy_header(conn):
            conn.established()
            conn.abort(reset_client=True)
            return
        conn.established()

    def _send_proxy_header(self, conn: Conn) -> bool:
        srv = conn.srv
        version = srv.send_proxy if srv.send_proxy >= 0 else self.state.settings.send_proxy
        if not version:
            return True
        header = proxy_header(conn, version)
        try:
            return conn.up.send(header) == len(header)     # a fresh socket takes it at once
        except OSError:
            return False

    def _wrap_upstream(self, conn: Conn) -> bool:
        """TLS towards the server, verified against backend_tls_ca (or the system's CAs)."""
        s = self.state.settings
        key = (s.backend_tls_ca, s.backend_tls_noverify)
        try:
            if self.backend_ctx is None or self.backend_ctx_key != key:
                self.backend_ctx, self.backend_ctx_key = tls.backend_context(s), key
            conn.up = self.backend_ctx.wrap_socket(
                conn.up, server_side=False, do_handshake_on_connect=False,
                server_hostname=None if s.backend_tls_noverify else conn.srv.host)
        except (OSError, ValueError, tls.TlsError) as e:
            log.error("TLS to server %d: %s", conn.server, e)
            return False
        conn.up_tls = True
        return True

    def sweep_connects(self) -> None:
        """Connect timeouts (-t), checked at most every 50 ms: a dict sweep costs less per
        connection than a heap timer per connect, and holds no closure."""
        now = self.reactor.now
        if now < self.next_sweep or not self.connecting:
            return
        self.next_sweep = now + 0.05
        expired = [conn for conn, deadline in self.connecting.items() if deadline <= now]
        for conn in expired:
            self.connect_timeout(conn)

    def connect_timeout(self, conn: Conn) -> None:
        self.connecting.pop(conn, None)
        if conn.closed or conn.connected:
            return
        conn.srv.pending -= 1
        self.pending -= 1
        self._connect_failed(conn, "connect timeout")
        self.resume_accept()

    def _connect_failed(self, conn: Conn, why: str) -> None:
        now = self.reactor.now
        index = conn.server
        self.blacklist(conn.srv, index, now, why)
        conn.detach_upstream()
        nxt = selection.next_failover(self.state, index, conn.initial, conn.client, conn.who, now)
        self.connect(conn, nxt)

    def blacklist(self, srv: Server | None, index: int, now: float, why: str) -> None:
        if srv is None:
            return
        srv.failures += 1
        srv.status = now
        log.info("blacklisting server %d because of %s", index, why)

    # -- the wait queue (pen-ha): clients wait for a server with room ----------------------------
    def _enqueue(self, conn: Conn) -> bool:
        """Park a client when servers exist but all are at their limits."""
        s = self.state.settings
        if s.queue_max <= 0 or len(self.queue) >= s.queue_max or conn.initial == DROP:
            return False
        now = self.reactor.now
        usable = any(selection.available(self.state, srv, now) for srv in self.state.servers.servers)
        if not usable:
            return False
        conn.queued_until = now + s.queue_timeout
        self.queue.append(conn)
        self.queued_total += 1
        return True

    def _dequeue(self) -> None:
        """A server may have room again: retry waiting clients in order."""
        now = self.reactor.now
        for _ in range(len(self.queue)):
            conn = self.queue.popleft()
            if conn.closed:
                continue
            if now > conn.queued_until:
                log.info("client %s waited %.1f s in the queue; closing", conn.who.host,
                         self.state.settings.queue_timeout)
                self.refused_total += 1
                conn.close()
                continue
            initial, first = selection.choose(self.state, conn.client, conn.who, now)
            if first in (NO_SERVER, DROP):
                self.queue.appendleft(conn)       # still full: keep its place, stop here
                return
            conn.queued_until = 0.0
            conn.initial = initial
            self.connect(conn, first)

    def connection_closed(self, conn: Conn, was_connected: bool, was_pending: bool) -> None:
        if conn.srv is not None:
            if was_connected:
                conn.srv.c -= 1
            elif was_pending:
                conn.srv.pending -= 1
                self.pending -= 1
        self.conns[conn.index] = None
        self.free_slots.append(conn.index)
        self.nconns -= 1
        if self.queue and was_connected:
            self._dequeue()
        self.resume_accept()


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
            self.free_slots[:0] = range(n - 1, s.conn_max - 1, -1)
            s.conn_max = n
            self.resume_accept()
        return s.conn_max

    def wall(self, mono: float) -> float:
        return mono + self.mono_offset

    # -- periodic work ----------------------------------------------------------------------------
    def housekeeping(self) -> None:
        s = self.state.settings
        now = self.reactor.now
        if s.idle_timeout > 0:
            limit = now - s.idle_timeout
            for conn in self.conns:
                if conn is not None and conn.connected and conn.last < limit:
                    log.info("closing idle connection %d", conn.index)
                    conn.close()
        if self.udp is not None:
            self.udp.expire(now)
        if self.queue:
            self._dequeue()
        self.resume_accept()

    # -- running -------------------------------------------------------------------------------
    def run(self) -> None:
        self.reactor.run()

    def shutdown(self) -> None:
        """SIGTERM: close everything (§7)."""
        self.reactor.stop()
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
    return (encode_v2 if version == 2 else encode_v1)(src, sport, dst, dport)


def _local_port(sock: socket.socket) -> int:
    try:
        name = sock.getsockname()
    except OSError:
        return 0
    return name[1] if isinstance(name, tuple) else 0
