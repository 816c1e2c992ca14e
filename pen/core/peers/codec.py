"""The peer protocol's wire format (docs/peers.md "Protocol").

A frame is `length (u32) | body | mac (32 bytes)`; `length` counts body and mac.  The body is
`version (u8) | type (u8) | seq (u64) | payload`.  The mac is HMAC-SHA256 under the shared key
(RFC 2104) over the receiver's nonce (from its HELLO on this connection) and the body, so a
frame recorded on one connection is useless on another, and the sequence number (1, 2, ... on
each connection) makes a replayed or reordered frame inside one connection fail too.  HELLO
itself (seq 0) is macked without a nonce: it only carries the sender's nonce.

Servers are named by address and port, never by slot number (the two nodes' slot lists may
differ); a TABLE message lists the servers it names once and its entries refer to that list.
An entry carries the client's 16-byte key (pen.core.balance.shared.client_key) and its age in
milliseconds (the time since the client's last connect on the sender), so -T expiry agrees
without the two clocks agreeing.

Every decoding failure raises `CodecError` (and nothing else: tests/unit/peers/test_fuzz).
"""
from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass, field

VERSION = 1
HELLO, CONFIG, TABLE, PING = 1, 2, 3, 4
TYPES = (HELLO, CONFIG, TABLE, PING)
MAC = 32
NONCE = 16
MAX_FRAME = 1 << 20            # bytes of body + mac: a larger length is malformed
MAX_ENTRIES = 20_000           # entries per TABLE frame (22 bytes each, well under MAX_FRAME)
NO_REF = 0xFFFF                # an entry with no server (not sent today; decoded as None)
FULL_START, FULL_END = 1, 2    # TABLE flags: the whole table follows / is complete

_HEAD = struct.Struct(">BBQ")
_LEN = struct.Struct(">I")
_ENTRY = struct.Struct(">16sIH")
_U16 = struct.Struct(">H")


class CodecError(ValueError):
    """Malformed or unauthenticated input; `kind` is the counter it goes to."""

    def __init__(self, kind: str, why: str) -> None:
        super().__init__(why)
        self.kind = kind          # "malformed", "auth" or "replay"


ServerName = tuple[str, int]


@dataclass(slots=True)
class Hello:
    nonce: bytes
    name: str


@dataclass(slots=True)
class Config:
    servers: list[ServerName]
    settings: dict[str, str]


@dataclass(slots=True)
class Entry:
    key: bytes                   # 16 bytes
    age_ms: int
    server: ServerName | None


@dataclass(slots=True)
class Table:
    flags: int
    entries: list[Entry] = field(default_factory=list)


@dataclass(slots=True)
class Ping:
    pass


Message = Hello | Config | Table | Ping


# -- encoding ------------------------------------------------------------------------------------
def _str8(value: str) -> bytes:
    raw = value.encode("utf-8", "replace")[:255]
    return bytes([len(raw)]) + raw


def _str16(value: str) -> bytes:
    raw = value.encode("utf-8", "replace")[:4096]
    return _U16.pack(len(raw)) + raw


def _servers(names: list[ServerName]) -> bytes:
    return _U16.pack(len(names)) + b"".join(_str8(h) + _U16.pack(p & 0xFFFF) for h, p in names)


def payload_hello(hello: Hello) -> bytes:
    return hello.nonce[:NONCE].ljust(NONCE, b"\0") + _str8(hello.name)


def payload_config(cfg: Config) -> bytes:
    items = sorted(cfg.settings.items())[:1000]
    return (_servers(cfg.servers[:1000]) + _U16.pack(len(items))
            + b"".join(_str8(k) + _str16(v) for k, v in items))


def payload_table(flags: int, entries: list[tuple[bytes, int, ServerName | None]]) -> bytes:
    """`entries`: (key, age in ms, server name or None); at most MAX_ENTRIES."""
    refs: dict[ServerName, int] = {}
    packed = []
    for key, age, name in entries[:MAX_ENTRIES]:
        if name is None:
            ref = NO_REF
        else:
            ref = refs.get(name, -1)
            if ref < 0:
                ref = refs[name] = len(refs)
        packed.append(_ENTRY.pack(key, min(max(age, 0), 0xFFFFFFFF), ref))
    return (bytes([flags & 0xFF]) + _servers(list(refs)) + struct.pack(">I", len(packed))
            + b"".join(packed))


def frame(kind: int, seq: int, payload: bytes, key: bytes, nonce: bytes) -> bytes:
    """One frame, macked for the receiver whose nonce is `nonce` (b"" for HELLO)."""
    body = _HEAD.pack(VERSION, kind, seq) + payload
    mac = hmac.new(key, nonce + body, hashlib.sha256).digest()
    return _LEN.pack(len(body) + MAC) + body + mac


# -- decoding ------------------------------------------------------------------------------------
class _Reader:
    __slots__ = ("data", "at")

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, n: int) -> bytes:
        if self.at + n > len(self.data):
            raise CodecError("malformed", "truncated payload")
        out = self.data[self.at:self.at + n]
        self.at += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int(_U16.unpack(self.take(2))[0])

    def u32(self) -> int:
        return int(_LEN.unpack(self.take(4))[0])

    def text(self, n: int) -> str:
        try:
            return self.take(n).decode("utf-8")
        except UnicodeDecodeError:
            raise CodecError("malformed", "text is not UTF-8") from None

    def servers(self) -> list[ServerName]:
        return [(self.text(self.u8()), self.u16()) for _ in range(self.u16())]

    def end(self) -> None:
        if self.at != len(self.data):
            raise CodecError("malformed", "trailing bytes in payload")


def decode_payload(kind: int, payload: bytes) -> Message:
    r = _Reader(payload)
    msg: Message
    if kind == HELLO:
        msg = Hello(r.take(NONCE), r.text(r.u8()))
    elif kind == CONFIG:
        servers = r.servers()
        settings = {}
        for _ in range(r.u16()):
            k = r.text(r.u8())
            settings[k] = r.text(r.u16())
        msg = Config(servers, settings)
    elif kind == TABLE:
        flags = r.u8()
        names = r.servers()
        n = r.u32()
        if n > MAX_ENTRIES:
            raise CodecError("malformed", f"{n} entries in one frame (at most {MAX_ENTRIES})")
        entries = []
        for _ in range(n):
            key, age, ref = _ENTRY.unpack(r.take(_ENTRY.size))
            if ref == NO_REF:
                name = None
            elif ref < len(names):
                name = names[ref]
            else:
                raise CodecError("malformed", f"server reference {ref} of {len(names)}")
            entries.append(Entry(key, age, name))
        msg = Table(flags, entries)
    elif kind == PING:
        msg = Ping()
    else:
        raise CodecError("malformed", f"unknown message type {kind}")
    r.end()
    return msg


class Decoder:
    """Frames out of a byte stream.  `next_frame` returns (type, seq, body-for-mac, payload,
    mac) or None when more bytes are needed; a bad length raises (the stream is lost)."""

    __slots__ = ("buf",)

    def __init__(self) -> None:
        self.buf = bytearray()

    def feed(self, data: bytes) -> None:
        self.buf += data

    def next_frame(self) -> tuple[int, int, bytes, bytes] | None:
        """(type, seq, body, mac); the mac is checked by the caller (it knows the nonce)."""
        if len(self.buf) < 4:
            return None
        (n,) = _LEN.unpack_from(self.buf)
        if n < _HEAD.size + MAC or n > MAX_FRAME:
            raise CodecError("malformed", f"frame length {n}")
        if len(self.buf) < 4 + n:
            return None
        body = bytes(self.buf[4:4 + n - MAC])
        mac = bytes(self.buf[4 + n - MAC:4 + n])
        del self.buf[:4 + n]
        version, kind, seq = _HEAD.unpack_from(body)
        if version != VERSION:
            raise CodecError("malformed", f"protocol version {version} (this pen speaks "
                                          f"{VERSION})")
        return kind, seq, body, mac


def check_mac(key: bytes, nonce: bytes, body: bytes, mac: bytes) -> bool:
    return hmac.compare_digest(hmac.new(key, nonce + body, hashlib.sha256).digest(), mac)


def payload_of(body: bytes) -> bytes:
    return body[_HEAD.size:]
