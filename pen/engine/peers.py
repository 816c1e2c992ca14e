"""The peer shell: pen.core.peers' sockets on pen's reactor (docs/peers.md).

The main process (with --workers too: it reads and writes the shared table) listens on
--peer-listen, dials every --peer, and every BATCH seconds hands the core's flush to the
sockets.  Nothing here blocks: sockets are non-blocking, output beyond MAX_OUTPUT closes the
connection (a slow or dead peer never holds the data path), and the only work on the data
path is the store's one-step change feed.  Names in --peer are resolved when the peers are
configured (start-up, `peer`, SIGHUP), not on the loop.
"""
from __future__ import annotations

import errno
import functools
import logging
import os
import socket
import time
from typing import TYPE_CHECKING

from pen.core.balance.shared import SharedStore
from pen.core.balance.store import PlainStore
from pen.core.peers import options
from pen.core.peers.options import PeerConfigError
from pen.core.peers.status import status as status_of
from pen.core.peers.sync import BATCH, MAX_OUTPUT, Dial, Link, PeerSync
from pen.core.peers.tables import PlainTable, SharedTable
from pen.engine.reactor import EPOLLIN, EPOLLOUT

if TYPE_CHECKING:
    from pen.engine.balancer import Balancer
    from pen.settings import Settings

log = logging.getLogger("pen")
READ = 65536
MAX_UNPROVEN = 4     # connections from one address not through their HELLO yet: more are refused


class PeerError(Exception):
    pass


def load_key(path: str | None) -> bytes:
    if path is None:
        return b""
    try:
        with open(path, "rb") as f:
            return options.read_key(f.read(4096), path)
    except OSError as e:
        raise PeerError(f"peer key {path}: {e.strerror}") from None
    except PeerConfigError as e:
        raise PeerError(str(e)) from None


class _Conn:
    """One peer socket and its pending output."""

    __slots__ = ("sock", "fd", "link", "out", "label", "dial", "connecting", "ip", "grace")

    def __init__(self, sock: socket.socket, label: str, dial: Dial | None) -> None:
        self.sock, self.fd, self.label, self.dial = sock, sock.fileno(), label, dial
        self.ip = label.rpartition(":")[0].strip("[]")
        self.grace = 0          # bytes at the head of `out` not held to MAX_OUTPUT
        self.link: Link | None = None
        self.out = bytearray()
        self.connecting = dial is not None


class PeerShell:
    """`state.peers` while pen runs (pen.core.control.peers.PeerHook)."""

    def __init__(self, bal: Balancer, settings: Settings) -> None:
        self.bal, self.settings = bal, settings
        self.key = load_key(settings.peer_key)
        self.key_stamp = _stamp(settings.peer_key)
        self.listener: socket.socket | None = None
        self.listen_text: str | None = None
        if settings.peer_listen:
            host, port = options.split(settings.peer_listen, "0.0.0.0")
            try:
                self.listener = _listen(host, port)
            except OSError as e:
                raise PeerError(f"cannot listen for peers on {settings.peer_listen}: "
                                f"{e.strerror}") from None
            bound = self.listener.getsockname()
            self.listen_text = f"{bound[0]}:{bound[1]}" if self.listener.family == \
                socket.AF_INET else f"[{bound[0]}]:{bound[1]}"
        self.sync: PeerSync | None = None
        self.dials: list[Dial] = []
        self.conns: dict[int, _Conn] = {}
        self.refused = 0            # connections refused by MAX_UNPROVEN

    # -- start-up -------------------------------------------------------------------------------
    def start(self) -> None:
        """After daemonizing, with the final store (shared with --workers)."""
        bal = self.bal
        store = bal.dispatcher.store
        table: PlainTable | SharedTable
        if isinstance(store, SharedStore):
            table = SharedTable(bal.state, store)
        else:
            assert isinstance(store, PlainStore)
            table = PlainTable(bal.state, store)
        # the HELLO name: random, so a node can tell a connection to itself
        self.sync = PeerSync(table, self.key, f"pen {os.getpid()} {os.urandom(6).hex()}")
        self.reconfigure()
        if self.listener is not None:
            bal.reactor.add(self.listener.fileno(), EPOLLIN, self._on_accept)
        bal.state.peers = self
        os.register_at_fork(after_in_child=self._forked)
        bal.reactor.every(BATCH, self._flush)

    def _forked(self) -> None:
        """A worker was forked: the peers are the main process's; the child lets go of its
        copies of the sockets (else a closed connection would stay open in the child)."""
        for conn in list(self.conns.values()):
            conn.sock.close()
        self.conns.clear()
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        self.bal.state.peers = None

    def reconfigure(self) -> None:
        """The peer list or the key file changed (`peer`, `no peer`, `peer_key`, SIGHUP)."""
        assert self.sync is not None
        stamp = _stamp(self.settings.peer_key)
        if stamp != self.key_stamp:         # another file, or the file was rewritten
            self.key_stamp = stamp          # an unreadable file is reported once
            try:
                key = load_key(self.settings.peer_key)
            except PeerError as e:
                log.error("%s; keeping the key in use", e)
            else:
                if key != self.key:
                    self.key = self.sync.key = key
                    for conn in list(self.conns.values()):     # the old key's connections go
                        self._close(conn, "the peer key changed")
        wanted = list(dict.fromkeys(self.settings.peers))
        for dial in [d for d in self.dials if d.address not in wanted]:
            self.dials.remove(dial)
            for conn in list(self.conns.values()):
                if conn.dial is dial:
                    self._close(conn, "peer removed")
        have = {d.address for d in self.dials}
        self.dials += [Dial(address) for address in wanted if address not in have]
        for dial in self.dials:
            if not dial.ip:                 # new, or did not resolve last time
                try:
                    host, port = options.split(dial.address)
                    dial.ip = str(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][4][0])
                    dial.last_error = ""
                except (OSError, PeerConfigError) as e:
                    dial.last_error = f"cannot resolve: {e}"

    # -- the loop -------------------------------------------------------------------------------
    def _flush(self) -> None:
        sync = self.sync
        assert sync is not None
        now = time.monotonic()
        for dial in self.dials:
            if dial.due(now) and dial.ip:
                self._dial(dial, now)
            elif dial.connecting_since is not None and now - dial.connecting_since > 5.0:
                for conn in list(self.conns.values()):
                    if conn.dial is dial and conn.connecting:
                        self._close(conn, "connect timed out")
        for link, data in sync.flush(now).items():
            target = self._conn_of(link)
            if target is not None:
                self._write(target, data)
        for conn in list(self.conns.values()):
            if conn.link is not None and conn.link.closed is not None:
                self._close(conn, conn.link.closed)

    def _conn_of(self, link: Link) -> _Conn | None:
        for conn in self.conns.values():
            if conn.link is link:
                return conn
        return None

    def _dial(self, dial: Dial, now: float) -> None:
        host, port = options.split(dial.address)
        family = socket.AF_INET6 if ":" in dial.ip else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        dial.connecting_since = now
        dial.attempts += 1
        err = sock.connect_ex((dial.ip, port))
        if err not in (0, errno.EINPROGRESS):
            sock.close()
            dial.lost(now, os.strerror(err))
            return
        conn = _Conn(sock, dial.address, dial)
        self.conns[conn.fd] = conn
        self.bal.reactor.add(conn.fd, EPOLLOUT, functools.partial(self._on_event, conn))

    def _on_accept(self, ev: int) -> None:
        assert self.listener is not None and self.sync is not None
        for _ in range(16):
            try:
                sock, addr = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                log.warning("peer listener: accept failed: %s", e.strerror)
                return
            unproven = sum(1 for c in self.conns.values() if c.dial is None and c.ip == addr[0]
                           and (c.link is None or c.link.their_nonce is None))
            if unproven >= MAX_UNPROVEN:
                # a flood from one address cannot hold the listener (each waits up to the
                # handshake timeout); other peers' addresses are not affected
                sock.close()
                self.refused += 1
                continue
            sock.setblocking(False)
            label = f"{addr[0]}:{addr[1]}" if sock.family == socket.AF_INET else \
                f"[{addr[0]}]:{addr[1]}"
            conn = _Conn(sock, label, None)
            self.conns[conn.fd] = conn
            now = time.monotonic()
            for dial in self.dials:        # a restarted peer gets our table at once
                if dial.ip == addr[0]:
                    dial.back(now)
            self.bal.reactor.add(conn.fd, EPOLLIN, functools.partial(self._on_event, conn))
            self._opened(conn)

    def _opened(self, conn: _Conn) -> None:
        assert self.sync is not None
        now = time.monotonic()
        conn.connecting = False
        conn.link, hello = self.sync.open_link(conn.dial is not None, os.urandom(16), now)
        if conn.dial is not None:
            conn.dial.link = conn.link
            conn.dial.connecting_since = None
        self._write(conn, hello)

    def _on_event(self, conn: _Conn, ev: int) -> None:
        if conn.fd not in self.conns:
            return
        if conn.connecting:
            err = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self._close(conn, os.strerror(err))
                return
            self._opened(conn)
            return
        if ev & EPOLLOUT and conn.out:
            self._send(conn)
        if ev & ~EPOLLOUT:
            self._read(conn)

    def _read(self, conn: _Conn) -> None:
        assert self.sync is not None and conn.link is not None
        try:
            data = conn.sock.recv(READ)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self._close(conn, e.strerror or "read failed")
            return
        if not data:
            self._close(conn, "closed by the peer")
            return
        reply = self.sync.data(conn.link, data, time.monotonic())
        if reply:       # the whole table, once per connection: not held to MAX_OUTPUT
            self._write(conn, reply, bounded=False)
        if conn.link.closed is not None:
            self._close(conn, conn.link.closed)

    def _write(self, conn: _Conn, data: bytes, bounded: bool = True) -> None:
        """Queue and send; a peer that lets more than MAX_OUTPUT of changes pile up (beyond
        the whole table it was sent on connecting) is too slow and is dropped."""
        if conn.fd not in self.conns:
            return
        conn.out += data
        if not bounded:
            conn.grace = len(conn.out)          # all queued so far may go out first
        elif len(conn.out) - conn.grace > MAX_OUTPUT:
            self._close(conn, f"peer too slow ({len(conn.out)} bytes queued)")
            return
        self._send(conn)

    def _send(self, conn: _Conn) -> None:
        try:
            n = conn.sock.send(conn.out)
        except (BlockingIOError, InterruptedError):
            n = 0
        except OSError as e:
            self._close(conn, e.strerror or "write failed")
            return
        del conn.out[:n]
        conn.grace = max(0, conn.grace - n)
        self.bal.reactor.set_mask(conn.fd, EPOLLIN | (EPOLLOUT if conn.out else 0))

    def _close(self, conn: _Conn, why: str) -> None:
        if self.conns.pop(conn.fd, None) is None:
            return
        self.bal.reactor.remove(conn.fd)
        conn.sock.close()
        now = time.monotonic()
        assert self.sync is not None
        if conn.link is not None:
            label = conn.label if conn.dial is not None else f"in:{conn.ip}"
            bad = conn.link.counters.bad()
            self.sync.drop_link(conn.link, label, why)
            if bad or conn.link.their_nonce is None:
                log.warning("peer %s: %s", conn.label, why)
            else:
                log.info("peer %s: %s", conn.label, why)
        if conn.dial is not None:
            conn.dial.lost(now, why)

    # -- PeerHook -------------------------------------------------------------------------------
    def status(self, now: float) -> dict:
        assert self.sync is not None
        incoming = {c.link: c.label for c in self.conns.values()
                    if c.dial is None and c.link is not None}
        store = self.bal.dispatcher.store
        if isinstance(store, SharedStore):
            entries = sum(1 for _ in store.tables.entries())
        else:
            entries = len(self.bal.state.clients)
        data = status_of(self.sync, self.dials, incoming, self.listen_text, bool(self.key),
                         entries, time.monotonic())
        data["refused"] = self.refused
        return data


def _stamp(path: str | None) -> tuple[str | None, int]:
    """Which key file, and when it last changed (0 when it cannot be seen, e.g. after -j)."""
    try:
        return path, os.stat(path).st_mtime_ns if path else 0
    except OSError:
        return path, 0


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # --takeover: the new pen binds the peer port while the old one still holds it
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(16)
    sock.setblocking(False)
    return sock


def prepare(bal: Balancer, settings: Settings) -> PeerShell | None:
    """Start-up, before daemonizing and dropping privileges: check the options (now that the
    -F file is read), read the key, open the listener.  Raises PeerError."""
    if not settings.peers and not settings.peer_listen:
        return None
    try:
        options.check(settings.peers, settings.peer_listen, settings.peer_key)
    except PeerConfigError as e:
        raise PeerError(str(e)) from None
    return PeerShell(bal, settings)
