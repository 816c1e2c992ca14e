"""The control port: penctl connections served inside the reactor, never blocking it.

C pen's protocol (docs/penctl.md "The control port"): one command per connection, then the
reply, then close.  C pen did a blocking recv, so one idle client froze all traffic
(docs/compatibility.md).  Here every control connection is a non-blocking socket in the
reactor: it has CONTROL_DEADLINE seconds to send its line (at most 4095 bytes, as C's single
recv), the reply is written as the socket accepts it, and a slow or silent client is closed.
control_acl is checked on accept (a denied client is closed without a reply, as C pen).

A host name in `server N address HOST` is looked up in a resolver thread, not on the loop
(pen.engine.lookups); the command then runs with the address found.

`EngineEffects` carries out what the pure interpreter (pen.core.control) asks for.
"""
from __future__ import annotations

import errno
import ipaddress
import logging
import os
import socket
import sys
import time
from concurrent.futures import Future

from pen import __version__
from pen.core import stats
from pen.core.acl import client_family_and_int
from pen.core.addr import AddressError, Endpoint, parse_listen
from pen.core.control import MAX_LINE, Interpreter
from pen.engine import listener as listeners
from pen.engine.balancer import Balancer
from pen.engine.conn import Conn
from pen.engine import takeover
from pen.engine.lookups import address_of, in_thread, lookup_target
from pen.engine.reactor import EPOLLIN, EPOLLOUT, Timer
from pen.resolve import resolve_endpoint

log = logging.getLogger("pen")

CONTROL_DEADLINE = 5.0      # seconds a control client has to send its command and take the reply
QUIET = 0.2                 # a line with no newline is run after this long without more data
MAX_CLIENTS = 64            # concurrent control connections; more are closed at once



class EngineEffects:
    """The interpreter's effects on a running Balancer (pen.core.control.Effects)."""

    def __init__(self, bal: Balancer) -> None:
        self.bal = bal

    def pid(self) -> int:
        return os.getpid()

    def now(self) -> float:
        return self.bal.reactor.clock()

    def wall_time(self) -> float:
        return time.time()

    def resolve(self, host: str, port: int) -> tuple[int, str, tuple | str]:
        ep = Endpoint(host, "", unix=True) if "/" in host else Endpoint(host, str(port))
        family, text, _, sockaddr = resolve_endpoint(ep, udp=self.bal.state.settings.udp)
        return family, text, sockaddr

    def listen_text(self) -> str | None:
        return self.bal.listen_text

    def relisten(self, text: str) -> str:
        return self.bal.relisten(text)

    def set_log(self, target: str | None) -> None:
        self.bal.set_log(target)

    def set_debug(self, level: int) -> None:
        from pen.engine.daemon import set_debug_level
        set_debug_level(level)

    def grow_conn_max(self, n: int) -> int:
        return self.bal.grow_conn_max(n)

    def connection(self, n: int) -> stats.ConnView | None:
        conn = self.bal.conns[n] if 0 <= n < len(self.bal.conns) else None
        if conn is None:
            return self.bal.slots.closed_view(n) if 0 <= n < len(self.bal.slots) else None
        return conn_view(conn)

    def close_connection(self, n: int) -> None:
        self.bal.close_connection(n)

    def socket_owner(self, fd: int) -> int:
        return self.bal.socket_owner(fd)

    def snapshot(self) -> dict:
        bal = self.bal
        views = [conn_view(c) for c in bal.conns if c is not None]
        snap = stats.snapshot(bal.state, views, bal.reactor.clock(), bal.mono_offset, bal.nconns,
                              bal.slots.last)
        snap["engine"] = engine_facts(bal)                 # issue 5: livestatus, metrics
        hist = bal.history
        if hist is not None:
            snap["history"] = hist.to_dict()
        return snap

    def write_file(self, path: str, text: str) -> None:
        """Write whole or not at all: a temporary file beside the target, then rename."""
        directory = os.path.dirname(os.path.abspath(path))
        import tempfile                  # `write` only: not on every start-up's path
        fd, tmp = tempfile.mkstemp(prefix=".pen-", dir=directory)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def read_file(self, path: str) -> str:
        with open(path, encoding="utf-8") as f:
            return f.read()

    def output(self, text: str) -> None:
        """Replies of -o/-F/include commands go to pen's stdout, as C pen."""
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except (OSError, ValueError):
            pass

    def exit(self) -> None:
        log.warning("exit requested through the control port")
        self.bal.reactor.stop()


def engine_facts(bal: Balancer) -> dict:
    """What only the running process knows: uptime, totals, the queue, the process itself
    (webstats and the Prometheus metrics show them; pen.core.livestatus)."""
    s = bal.state.settings
    d = bal.dispatcher
    listen = bal.listen_text
    cpu = os.times()
    return {
        "version": __version__, "pid": os.getpid(), "started": bal.started,
        "uptime": round(max(0.0, time.time() - bal.started), 3), "listen": listen,
        "protocol": "udp" if s.udp else ("unix" if listen and "/" in listen else "tcp"),
        "accepting": bal.accepting, "connections_total": d.connections_total,
        "refused_total": d.refused_total, "queued_total": d.queued_total,
        "queue_len": len(d.queue), "pending": d.pending,
        "cpu_seconds": round(cpu.user + cpu.system, 3), "open_fds": _count_fds(),
        "rss_bytes": _rss_bytes(),
    }


def _count_fds() -> int | None:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return None


def _rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def conn_view(conn: Conn) -> stats.ConnView:
    return stats.ConnView(
        conn.index, conn.state, conn.dfd, conn.ufd, conn.client.slot, conn.server,
        conn.pending_bytes(True), conn.pending_bytes(False),
        0 if conn.connected else 1)


def interpreter_for(bal: Balancer) -> Interpreter:
    """The one interpreter of a balancer (start-up commands, control port and HUP share it)."""
    if bal.interp is None:
        bal.interp = Interpreter(bal.state, EngineEffects(bal), running=False,
                                 version=__version__)
    return bal.interp


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return host == "localhost"


class ControlServer:
    """The listening control socket and its connections."""

    def __init__(self, bal: Balancer, sock: socket.socket, interp: Interpreter) -> None:
        self.bal = bal
        self.sock = sock
        self.interp = interp
        self.clients: set[ControlConn] = set()
        bal.reactor.add(sock.fileno(), EPOLLIN, self.on_accept)

    def on_accept(self, ev: int) -> None:
        for _ in range(MAX_CLIENTS):
            try:
                sock, addr = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    log.warning("control accept: %s", e.strerror)
                    return
                continue
            if len(self.clients) >= MAX_CLIENTS:
                log.warning("control: %d connections already open; closing a new one",
                            MAX_CLIENTS)
                sock.close()
                continue
            denied = not self.permitted(addr)
            if denied:
                log.warning("do_ctrl: not from there (%s denied by control_acl %d)",
                            addr[0], self.bal.state.settings.control_acl)
            self.clients.add(ControlConn(self, sock, denied))

    def permitted(self, addr: tuple | str) -> bool:
        if not isinstance(addr, tuple):
            return True
        st = self.bal.state
        family, address = client_family_and_int(addr[0])
        return st.acls.permits(st.settings.control_acl, family, address)

    def close(self) -> None:
        for client in list(self.clients):
            client.close()
        self.bal.reactor.remove(self.sock.fileno())
        self.sock.close()


class ControlConn:
    """One control client: read a line (bounded in size and time), reply, close."""

    __slots__ = ("server", "sock", "fd", "buf", "out", "deadline", "quiet", "closed", "denied",
                 "lookup")

    def __init__(self, server: ControlServer, sock: socket.socket, denied: bool = False) -> None:
        self.server = server
        self.denied = denied        # read the line, answer nothing: a clean close, not a reset
        self.sock = sock
        sock.setblocking(False)
        self.fd = sock.fileno()
        self.buf = bytearray()
        self.out = b""
        self.closed = False
        reactor = server.bal.reactor
        self.deadline: Timer = reactor.call_later(CONTROL_DEADLINE, self.expire)
        self.quiet: Timer | None = None
        self.lookup: Future[str] | None = None
        reactor.add(self.fd, EPOLLIN, self.on_event)

    def on_event(self, ev: int) -> None:
        if self.out:
            self.flush()
            return
        try:
            data = self.sock.recv(MAX_LINE + 1 - len(self.buf))
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.close()
            return
        if not data:
            self.execute()
            return
        self.buf += data
        if b"\n" in self.buf or b"\r" in self.buf or len(self.buf) >= MAX_LINE:
            self.execute()
        else:
            if self.quiet is not None:
                self.quiet.cancel()
            self.quiet = self.server.bal.reactor.call_later(QUIET, self.execute)

    def execute(self) -> None:
        if self.closed or self.out or self.lookup is not None:
            return
        if self.quiet is not None:
            self.quiet.cancel()
            self.quiet = None
        if self.denied:
            self.close()
            return
        line = bytes(self.buf[:MAX_LINE]).decode("utf-8", "replace")
        if line.split()[:1] == ["takeover"]:           # needs this very socket: fd passing
            self.sock.setblocking(True)
            self.sock.settimeout(2)
            takeover.hand_over(self.server.bal, self.sock)
            self.close()
            return
        words = line.split("\r", 1)[0].split("\n", 1)[0].split()
        at = lookup_target(words)
        if at is not None:
            self.start_lookup(words, at)
            return
        self.run(line)

    def start_lookup(self, words: list[str], at: int) -> None:
        """Look HOST up in a resolver thread; its end wakes the reactor (pen.engine.lookups)."""
        self.server.bal.reactor.set_mask(self.fd, 0)       # nothing to read meanwhile
        udp = self.server.bal.state.settings.udp
        self.lookup = in_thread(self.server.bal.reactor, lambda: address_of(words[at], udp),
                                lambda _: self.looked_up(words, at))

    def looked_up(self, words: list[str], at: int) -> None:
        """The name lookup of a `server` line is in: run the line with the address found, or
        answer its failure as the interpreter would."""
        lookup = self.lookup
        if self.closed or lookup is None:
            return                  # the client went (or its deadline passed): nothing applied
        try:
            words[at] = lookup.result()
        except (AddressError, OSError, UnicodeError) as e:
            why = f"server {words[1]} address: {e}"
            log.warning("control: %s", why)
            self.reply(f"error: {why}\n")
            return
        self.run(" ".join(words))

    def run(self, line: str) -> None:
        reply = interpreter_for(self.server.bal).run(line)     # --workers may replace it
        if self.server.bal.health is not None:
            self.server.bal.health.tick()  # a check just added is probed at once
        if reply.error:
            log.warning("control: %s", reply.error)
        self.reply(reply.text)

    def reply(self, text: str) -> None:
        self.out = text.encode("utf-8", "replace")
        if not self.out:
            self.close()
            return
        self.flush()

    def flush(self) -> None:
        try:
            sent = self.sock.send(self.out)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self.close()
            return
        self.out = self.out[sent:]
        if not self.out:
            self.close()
        else:
            self.server.bal.reactor.set_mask(self.fd, EPOLLOUT)

    def expire(self) -> None:
        if not self.closed:
            log.warning("control: client too slow (%s s); closing it", CONTROL_DEADLINE)
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.deadline.cancel()
        if self.quiet is not None:
            self.quiet.cancel()
        self.server.bal.reactor.remove(self.fd)
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self.sock.close()
        self.server.clients.discard(self)


def open_control(bal: Balancer, text: str, sock: socket.socket | None = None) -> ControlServer:
    """-C [host:]port or a unix path.  No host means loopback (C pen bound every interface).
    `sock`: the socket-activated control port (its address is `text`)."""
    s = bal.state.settings
    ep = parse_listen(text, default_host="127.0.0.1")
    if sock is None:
        sock = listeners.open_listener(ep, backlog=64, reuseport=False,
                                       unix_mode=s.control_socket_mode if ep.unix else None)
    if not ep.unix:
        host = sock.getsockname()[0]
        if not is_loopback(host) and not bal.state.acls.lists[s.control_acl]:
            log.warning("control port %s is reachable from other hosts and unauthenticated: "
                        "set a control_acl (acl N permit ...; control_acl N)", text)
    server = ControlServer(bal, sock, interpreter_for(bal))
    bal.on_exit.append(server.close)
    return server


__all__ = ["AddressError", "ControlServer", "EngineEffects", "interpreter_for", "open_control"]
