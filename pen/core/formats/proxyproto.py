"""PROXY protocol v1 and v2 (HAProxy's proxy-protocol.txt, 2020-03-05): encode and decode.

pen sends a header to backends (so they see the real client) and accepts one from a load
balancer in front of it (so tracking, hashing and ACLs see the real client).  Pure: bytes in,
bytes or a parsed header out.
"""
from __future__ import annotations

from pen.core.numbers import ascii_decimal

import ipaddress
import socket
import struct
from dataclasses import dataclass

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V1_MAX = 107                      # "PROXY TCP6 " + 2 x 39 + 2 x 5 + spaces + CRLF
V2_FIXED = 16
MAX_HEADER = V2_FIXED + 65535


class ProxyError(ValueError):
    """Not a valid PROXY header; the message says what was wrong."""


@dataclass(slots=True, frozen=True)
class ProxyHeader:
    """What the sender saw.  `local` (v2 LOCAL, v1 UNKNOWN): no address, use the connection's."""

    family: int                   # socket.AF_INET, AF_INET6, or 0 for local/unknown
    src: str = ""
    dst: str = ""
    src_port: int = 0
    dst_port: int = 0
    length: int = 0               # bytes the header took on the wire

    @property
    def local(self) -> bool:
        return self.family == 0


def encode_v1(src: str, src_port: int, dst: str, dst_port: int) -> bytes:
    if not src:
        return b"PROXY UNKNOWN\r\n"
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if s.version != d.version:         # mixed families: map the v4 one into v6
        s, d = _v6(s), _v6(d)
    proto = "TCP4" if s.version == 4 else "TCP6"
    return f"PROXY {proto} {s} {d} {src_port} {dst_port}\r\n".encode("ascii")


def encode_v2(src: str, src_port: int, dst: str, dst_port: int, *, udp: bool = False) -> bytes:
    if not src:
        return V2_SIGNATURE + bytes([0x20, 0x00]) + struct.pack("!H", 0)   # LOCAL
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if s.version != d.version:
        s, d = _v6(s), _v6(d)
    transport = 0x2 if udp else 0x1
    if s.version == 4:
        body = s.packed + d.packed + struct.pack("!HH", src_port, dst_port)
        fam = 0x10 | transport
    else:
        body = s.packed + d.packed + struct.pack("!HH", src_port, dst_port)
        fam = 0x20 | transport
    return V2_SIGNATURE + bytes([0x21, fam]) + struct.pack("!H", len(body)) + body


def _v6(a: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv6Address:
    return a if a.version == 6 else ipaddress.IPv6Address("::ffff:" + str(a))


def decode(data: bytes) -> ProxyHeader | None:
    """Parse a header at the start of `data`.  None: more bytes are needed (and could still
    make a valid header).  Raises ProxyError when the bytes cannot be a PROXY header."""
    if not data:
        return None
    if data[0] == 0x0D:
        n = min(len(data), len(V2_SIGNATURE))
        if data[:n] != V2_SIGNATURE[:n]:
            raise ProxyError("bad PROXY v2 signature")
        return _decode_v2(data) if len(data) >= V2_FIXED else None
    if data[0] == ord("P"):
        return _decode_v1(data)
    raise ProxyError("no PROXY header")


def _decode_v1(data: bytes) -> ProxyHeader | None:
    n = min(len(data), 6)
    if data[:n] != b"PROXY "[:n]:
        raise ProxyError("bad PROXY v1 signature")
    end = data.find(b"\r\n", 0, V1_MAX)
    if end < 0:
        if len(data) >= V1_MAX:
            raise ProxyError("PROXY v1 line too long")
        return None
    try:
        line = data[:end].decode("ascii")
    except UnicodeDecodeError:
        raise ProxyError("PROXY v1 line is not ASCII") from None
    parts = line.split(" ")
    if len(parts) >= 2 and parts[1] == "UNKNOWN":
        return ProxyHeader(0, length=end + 2)
    if len(parts) != 6 or parts[1] not in ("TCP4", "TCP6"):
        raise ProxyError(f"bad PROXY v1 line {line[:60]!r}")
    _, proto, src, dst, sport, dport = parts
    version = 4 if proto == "TCP4" else 6
    try:
        s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    except ValueError:
        raise ProxyError("bad address in PROXY v1 line") from None
    if s.version != version or d.version != version:
        raise ProxyError("address family does not match the PROXY v1 protocol")
    ports = []
    for p in (sport, dport):
        port = ascii_decimal(p, 5)
        if port is None or (len(p) > 1 and p[0] == "0") or port > 65535:
            raise ProxyError(f"bad port {p!r} in PROXY v1 line")
        ports.append(port)
    family = socket.AF_INET if version == 4 else socket.AF_INET6
    return ProxyHeader(family, str(s), str(d), ports[0], ports[1], end + 2)


def _decode_v2(data: bytes) -> ProxyHeader | None:
    ver_cmd, fam = data[12], data[13]
    if ver_cmd >> 4 != 2:
        raise ProxyError(f"bad PROXY v2 version {ver_cmd >> 4}")
    command = ver_cmd & 0x0F
    if command not in (0, 1):
        raise ProxyError(f"bad PROXY v2 command {command}")
    (length,) = struct.unpack_from("!H", data, 14)
    total = V2_FIXED + length
    if len(data) < total:
        return None
    if command == 0:                           # LOCAL: health checks from the proxy itself
        return ProxyHeader(0, length=total)
    family, transport = fam >> 4, fam & 0x0F
    if transport not in (1, 2):
        return ProxyHeader(0, length=total)    # UNSPEC / unix: treat as local, as the spec says
    if family == 1:
        if length < 12:
            raise ProxyError("PROXY v2 IPv4 block too short")
        s, d = ipaddress.IPv4Address(data[16:20]), ipaddress.IPv4Address(data[20:24])
        sp, dp = struct.unpack_from("!HH", data, 24)
        return ProxyHeader(socket.AF_INET, str(s), str(d), sp, dp, total)
    if family == 2:
        if length < 36:
            raise ProxyError("PROXY v2 IPv6 block too short")
        s6, d6 = ipaddress.IPv6Address(data[16:32]), ipaddress.IPv6Address(data[32:48])
        sp, dp = struct.unpack_from("!HH", data, 48)
        if s6.ipv4_mapped is not None:
            return ProxyHeader(socket.AF_INET, str(s6.ipv4_mapped), str(d6.ipv4_mapped or d6),
                               sp, dp, total)
        return ProxyHeader(socket.AF_INET6, str(s6), str(d6), sp, dp, total)
    return ProxyHeader(0, length=total)
