"""Peer synchronisation as a pure state machine (docs/peers.md).

pen's first promise (pen(1), "-T") is that a client goes back to the server it used last; in a
pair each node has its own client table, so the promise broke at a failover.  Peers push their
client-table changes to each other over TCP.

Each node dials every `--peer` and pushes its own table over that connection: the whole table
when it opens, then every change, batched (`flush`, every BATCH seconds).  Over a connection it
accepted it only receives entries.  Both ends send their configuration (CONFIG) on connect and
when it changes, so each can report drift.  A restarted node gets the other's table when the
other reconnects to it (backoff from BACKOFF_MIN, doubling to BACKOFF_MAX).

Nothing here touches a socket or a clock: the shell (pen.engine.peers) feeds `now` and bytes
and writes the bytes returned.  Bad input is counted (`Link.bad`) and dropped; a connection is
closed when its framing is lost or its HELLO fails authentication (a wrong key).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from pen.core.peers import codec
from pen.core.peers.codec import CodecError, Config, Entry, ServerName

BATCH = 0.1               # seconds: changes reach the peers within this
PING_EVERY = 2.0          # seconds without output before a PING
DEAD_AFTER = 8.0          # seconds without input: the connection is dead
HANDSHAKE_TIMEOUT = 5.0   # seconds to connect and receive the peer's HELLO
BACKOFF_MIN, BACKOFF_MAX = 0.2, 10.0
STABLE = 10.0             # seconds a connection must last for the backoff to start over
MAX_BAD = 20              # bad frames tolerated on one connection before it is closed
MAX_OUTPUT = 4 << 20      # bytes queued for one peer: beyond this it is too slow, closed
CHUNK = 5000              # entries per TABLE frame when sending the whole table
SELF = "this node itself"  # why a link to our own listener is closed (and never redialled)


NEVER = float("inf")


class PeerTable(Protocol):
    """The client table as peers see it (pen.core.peers.tables)."""

    def snapshot(self, now: float) -> list[tuple[bytes, int, ServerName | None]]: ...
    def drain(self, now: float) -> list[tuple[bytes, int, ServerName | None]]: ...
    def apply(self, entries: list[Entry], now: float) -> tuple[int, int, int]: ...
    def config(self) -> Config: ...


@dataclass(slots=True)
class Counters:
    sent: int = 0              # entries sent
    received: int = 0          # entries received
    applied: int = 0           # of those, newer than ours and taken
    stale: int = 0             # older than ours (or expired by -T): ignored
    unknown: int = 0           # naming a server we do not have
    malformed: int = 0
    auth: int = 0              # failed the HMAC
    replay: int = 0            # out-of-sequence (replayed or reordered)
    last_sent: float = 0.0
    last_received: float = 0.0

    def bad(self) -> int:
        return self.malformed + self.auth + self.replay


class Link:
    """One open TCP connection with a peer (either direction)."""

    def __init__(self, key: bytes, nonce: bytes, name: str, outgoing: bool, now: float) -> None:
        self.key, self.nonce, self.name, self.outgoing = key, nonce, name, outgoing
        self.their_nonce: bytes | None = None
        self.their_name = ""
        self.their_config: Config | None = None
        self.seq_out = 0
        self.seq_in = 0
        self.decoder = codec.Decoder()
        self.counters = Counters()
        self.opened = now
        self.last_in = now
        self.last_out = now
        self.closed: str | None = None     # why, once closed

    @property
    def up(self) -> bool:
        return self.their_nonce is not None and self.closed is None

    def hello(self, now: float) -> bytes:
        self.last_out = now
        return codec.frame(codec.HELLO, 0, codec.payload_hello(codec.Hello(self.nonce, self.name)),
                           self.key, b"")

    def send(self, kind: int, payload: bytes, now: float) -> bytes:
        """A frame for this link (after the peer's HELLO: its nonce is in the mac)."""
        assert self.their_nonce is not None
        self.seq_out += 1
        self.last_out = now
        return codec.frame(kind, self.seq_out, payload, self.key, self.their_nonce)

    def close(self, why: str) -> None:
        if self.closed is None:
            self.closed = why

    def receive(self, data: bytes, now: float) -> list[codec.Message]:
        """The messages in `data` that are well formed, authentic and in sequence.  The rest is
        counted and dropped; `closed` is set when the connection must go."""
        out: list[codec.Message] = []
        if self.closed is not None:
            return out
        self.decoder.feed(data)
        c = self.counters
        while self.closed is None:
            try:
                got = self.decoder.next_frame()
            except CodecError as e:
                c.malformed += 1
                self.close(f"malformed input: {e}")
                break
            if got is None:
                break
            kind, seq, body, mac = got
            try:
                msg = self._open(kind, seq, body, mac)
            except CodecError as e:
                setattr(c, e.kind, getattr(c, e.kind) + 1)
                if kind == codec.HELLO and e.kind == "auth":
                    self.close("authentication failed (is --peer-key the same on both nodes?)")
                elif c.bad() > MAX_BAD:
                    self.close(f"{c.bad()} bad frames")
                continue
            self.last_in = now
            out.append(msg)
        return out

    def _open(self, kind: int, seq: int, body: bytes, mac: bytes) -> codec.Message:
        if kind == codec.HELLO:
            if self.their_nonce is not None or seq != 0:
                raise CodecError("replay", "a second HELLO")
            if not codec.check_mac(self.key, b"", body, mac):
                raise CodecError("auth", "HELLO failed authentication")
            msg = codec.decode_payload(kind, codec.payload_of(body))
            assert isinstance(msg, codec.Hello)
            self.their_nonce, self.their_name = msg.nonce, msg.name
            return msg
        if self.their_nonce is None:
            raise CodecError("auth", "a message before HELLO")
        if not codec.check_mac(self.key, self.nonce, body, mac):
            raise CodecError("auth", "message failed authentication")
        if seq != self.seq_in + 1:
            raise CodecError("replay", f"sequence {seq}, expected {self.seq_in + 1}")
        self.seq_in = seq
        return codec.decode_payload(kind, codec.payload_of(body))


@dataclass(slots=True)
class Dial:
    """One `--peer HOST:PORT`: when to (re)connect, and its current connection."""

    address: str
    ip: str = ""                      # the address it resolved to (matches incoming links)
    next_try: float = 0.0
    backoff: float = BACKOFF_MIN
    connecting_since: float | None = None
    link: Link | None = None
    attempts: int = 0
    last_error: str = ""

    def due(self, now: float) -> bool:
        return self.link is None and self.connecting_since is None and now >= self.next_try

    def back(self, now: float) -> None:
        """The peer connected to us (it restarted, say): dial it now, not after the backoff."""
        if self.link is None and self.connecting_since is None and self.next_try != NEVER:
            self.next_try = now
            self.backoff = BACKOFF_MIN

    def lost(self, now: float, why: str) -> None:
        """The connection (or the attempt) ended: try again after the backoff."""
        if why == SELF:
            self.link, self.connecting_since, self.last_error = None, None, why
            self.next_try = NEVER
            return
        if self.link is not None and now - self.link.opened >= STABLE:
            self.backoff = BACKOFF_MIN
        self.link = None
        self.connecting_since = None
        self.last_error = why
        self.next_try = now + self.backoff
        self.backoff = min(self.backoff * 2, BACKOFF_MAX)


@dataclass(slots=True)
class Totals:
    """What closed connections counted, kept per peer row (`peers`)."""
    counters: Counters = field(default_factory=Counters)

    def add(self, c: Counters) -> None:
        t = self.counters
        for name in ("sent", "received", "applied", "stale", "unknown", "malformed", "auth",
                     "replay"):
            setattr(t, name, getattr(t, name) + getattr(c, name))
        t.last_sent = max(t.last_sent, c.last_sent)
        t.last_received = max(t.last_received, c.last_received)


class PeerSync:
    """Every link of this node; what to send on each, fed by the shell."""

    def __init__(self, table: PeerTable, key: bytes, name: str) -> None:
        self.table, self.key, self.name = table, key, name
        self.links: list[Link] = []
        self.config_sent: Config | None = None
        self.next_flush = 0.0
        self.totals: dict[str, Totals] = {}      # by peer label: closed links' counts

    # -- links --------------------------------------------------------------------------------
    def open_link(self, outgoing: bool, nonce: bytes, now: float) -> tuple[Link, bytes]:
        link = Link(self.key, nonce, self.name, outgoing, now)
        self.links.append(link)
        return link, link.hello(now)

    def drop_link(self, link: Link, label: str, why: str) -> None:
        link.close(why)
        if link in self.links:
            self.links.remove(link)
            self.totals.setdefault(label, Totals()).add(link.counters)

    def data(self, link: Link, data: bytes, now: float) -> bytes:
        """Bytes from the peer; returns the bytes to send back (`link.closed` says if it must
        close)."""
        out = []
        for msg in link.receive(data, now):
            if isinstance(msg, codec.Hello):
                if msg.name == self.name:
                    # a `--peer` list shared by every node names this node too
                    link.close(SELF)
                    break
                out.append(link.send(codec.CONFIG, codec.payload_config(self.table.config()), now))
                if link.outgoing:
                    out += self._whole_table(link, now)
            elif isinstance(msg, codec.Config):
                link.their_config = msg
            elif isinstance(msg, codec.Table):
                c = link.counters
                c.received += len(msg.entries)
                c.last_received = now
                applied, stale, unknown = self.table.apply(msg.entries, now)
                c.applied += applied
                c.stale += stale
                c.unknown += unknown
        return b"".join(out)

    def _whole_table(self, link: Link, now: float) -> list[bytes]:
        entries = self.table.snapshot(now)
        frames = []
        for at in range(0, max(len(entries), 1), CHUNK):
            chunk = entries[at:at + CHUNK]
            flags = (codec.FULL_START if at == 0 else 0) | (
                codec.FULL_END if at + CHUNK >= len(entries) else 0)
            frames.append(link.send(codec.TABLE, codec.payload_table(flags, chunk), now))
            link.counters.sent += len(chunk)
        if entries:
            link.counters.last_sent = now
        return frames

    # -- the periodic work --------------------------------------------------------------------
    def flush(self, now: float) -> dict[Link, bytes]:
        """Every BATCH: the changes since the last flush to every outgoing link, a PING where
        nothing went for PING_EVERY, the configuration where it changed.  Links silent for
        DEAD_AFTER (or stuck in the handshake) are marked closed."""
        out: dict[Link, list[bytes]] = {}
        changes = self.table.drain(now)
        payloads = [codec.payload_table(0, changes[at:at + CHUNK])
                    for at in range(0, len(changes), CHUNK)]
        config = self.table.config()
        config_changed = config != self.config_sent
        self.config_sent = config
        for link in self.links:
            if link.closed is not None:
                continue
            if not link.up:
                if now - link.opened > HANDSHAKE_TIMEOUT:
                    link.close("no HELLO from the peer")
                continue
            if now - link.last_in > DEAD_AFTER:
                link.close(f"nothing received for {DEAD_AFTER:g} s")
                continue
            frames = out.setdefault(link, [])
            if config_changed:
                frames.append(link.send(codec.CONFIG, codec.payload_config(config), now))
            if link.outgoing and changes:
                for payload in payloads:
                    frames.append(link.send(codec.TABLE, payload, now))
                link.counters.sent += len(changes)
                link.counters.last_sent = now
            if not frames and now - link.last_out >= PING_EVERY:
                frames.append(link.send(codec.PING, b"", now))
        return {link: b"".join(frames) for link, frames in out.items() if frames}
