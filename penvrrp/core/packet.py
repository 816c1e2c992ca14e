"""VRRP advertisement encoding, decoding and checksums (RFC 3768 §5, RFC 5798/9568 §5).

Pure: bytes in, bytes or dataclasses out.  A small ``struct`` codec rather than scapy
in the receive path, because scapy silently turns truncated packets into ``Raw``
(docs/penvrrp.md "Design") and every field must be checked before it is trusted.  The unit
tests cross-check every checksum against scapy's ``VRRP``/``VRRPv3`` classes.
"""

from __future__ import annotations

import ipaddress
import socket
import struct

from pen.core.inetsum import checksum as inet_checksum   # RFC 1071, every VRRP version
from dataclasses import dataclass, field

PROTO_VRRP = 112
MCAST_V4 = "224.0.0.18"
MCAST_V6 = "ff02::12"
TYPE_ADVERT = 1
AUTH_NONE = 0
AUTH_PASS = 1
AUTH_AH = 2
HEADER_LEN = 8
V2_AUTH_LEN = 8

#: Checksum forms for VRRPv3 over IPv4 (docs/penvrrp.md "Interoperating with keepalived"):
#: keepalived, Wireshark and
#: scapy include an IPv4 pseudo-header; RFC 9568 §5.2.8, Cisco and Juniper do not.
CHECKSUM_PSEUDO = "pseudo"
CHECKSUM_PLAIN = "plain"


class PacketError(ValueError):
    """A received packet failed a check; ``reason`` is the counter it increments."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(slots=True, frozen=True)
class Advert:
    """One VRRP advertisement, version independent.

    ``interval_cs`` is in centiseconds for both versions (v2 carries whole seconds,
    so a v2 advert of 1 s has ``interval_cs == 100``).
    """

    version: int
    vrid: int
    priority: int
    addrs: tuple[str, ...]
    interval_cs: int
    type: int = TYPE_ADVERT
    auth_type: int = AUTH_NONE
    auth_data: bytes = field(default=bytes(V2_AUTH_LEN))


@dataclass(slots=True, frozen=True)
class Decoded:
    """A decoded advert plus which checksum form validated it (for the rx counters)."""

    advert: Advert
    checksum_form: str


def family_of(addr: str) -> int:
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def pseudo_header(src: str, dst: str, length: int) -> bytes:
    """IPv4 (UDP-style) or IPv6 (RFC 8200 §8.1) pseudo-header for protocol 112."""
    if family_of(src) == socket.AF_INET6:
        return (socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
                + struct.pack("!I3xB", length, PROTO_VRRP))
    return socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!xBH", PROTO_VRRP, length)


def password_bytes(password: str) -> bytes:
    """v2 PASS auth data: the first 8 bytes, zero padded, as keepalived truncates it."""
    return password.encode()[:V2_AUTH_LEN].ljust(V2_AUTH_LEN, b"\0")


def _pack_addrs(addrs: tuple[str, ...], family: int) -> bytes:
    return b"".join(socket.inet_pton(family, a) for a in addrs)


def encode(adv: Advert, src: str, dst: str, checksum_mode: str = CHECKSUM_PSEUDO) -> bytes:
    """Build the VRRP message (the IP payload); ``src``/``dst`` feed the v3 pseudo-header."""
    family = family_of(src)
    count = len(adv.addrs)
    if adv.version == 2:
        if family != socket.AF_INET:
            raise ValueError("VRRPv2 is IPv4 only (RFC 3768)")
        head = struct.pack("!BBBBBBH", (2 << 4) | adv.type, adv.vrid, adv.priority, count,
                           adv.auth_type, adv.interval_cs // 100, 0)
        body = head + _pack_addrs(adv.addrs, family) + adv.auth_data.ljust(V2_AUTH_LEN, b"\0")[:8]
        csum = inet_checksum(body)
    elif adv.version == 3:
        head = struct.pack("!BBBBHH", (3 << 4) | adv.type, adv.vrid, adv.priority, count,
                           adv.interval_cs & 0x0FFF, 0)
        body = head + _pack_addrs(adv.addrs, family)
        if family == socket.AF_INET and checksum_mode == CHECKSUM_PLAIN:
            csum = inet_checksum(body)
        else:
            csum = inet_checksum(pseudo_header(src, dst, len(body)) + body)
    else:
        raise ValueError(f"unknown VRRP version {adv.version}")
    return body[:6] + struct.pack("!H", csum) + body[8:]


def decode(payload: bytes, src: str, dst: str, strict_mode: str | None = None) -> Decoded:
    """Parse and verify a VRRP message (RFC 5798 §7.1 steps on the message itself).

    Checks, in order: length of the fixed header, version, length against the address
    count, checksum.  ``strict_mode`` (``pseudo`` or ``plain``) accepts only that v3/IPv4
    checksum form; None accepts either, as docs/penvrrp.md "Interoperating with
    keepalived" recommends.
    Raises PacketError whose ``reason`` names the counter.
    """
    family = family_of(src)
    if len(payload) < HEADER_LEN:
        raise PacketError("packet_length_errors", f"packet too short: {len(payload)} bytes")
    vt, vrid, prio, count = payload[0], payload[1], payload[2], payload[3]
    version, ptype = vt >> 4, vt & 0x0F
    if version not in (2, 3) or (version == 2 and family == socket.AF_INET6):
        raise PacketError("version_errors", f"unsupported version {version}")
    alen = 16 if family == socket.AF_INET6 else 4
    expect = HEADER_LEN + alen * count + (V2_AUTH_LEN if version == 2 else 0)
    if len(payload) < expect:
        raise PacketError("packet_length_errors",
                          f"packet too short: {len(payload)} bytes, expect {expect} for {count} addresses")
    with_pseudo = pseudo_header(src, dst, len(payload)) + payload if version == 3 else b""
    if version == 3 and family == socket.AF_INET6:
        if inet_checksum(with_pseudo) != 0:
            raise PacketError("checksum_errors", "invalid VRRPv3 checksum")
        form = CHECKSUM_PSEUDO
    elif inet_checksum(payload) == 0:
        form = CHECKSUM_PLAIN
    elif version == 3 and inet_checksum(with_pseudo) == 0:
        form = CHECKSUM_PSEUDO
    else:
        raise PacketError("checksum_errors", f"invalid VRRPv{version} checksum")
    if version == 3 and family == socket.AF_INET and strict_mode not in (None, form):
        raise PacketError("checksum_errors", f"VRRPv3 checksum in {form} form, only {strict_mode} accepted")
    raw_addrs = payload[HEADER_LEN:HEADER_LEN + alen * count]
    addrs = tuple(socket.inet_ntop(family, raw_addrs[i:i + alen]) for i in range(0, len(raw_addrs), alen))
    if version == 2:
        auth_type, adv_s = payload[4], payload[5]
        auth = payload[HEADER_LEN + alen * count:expect]
        advert = Advert(2, vrid, prio, addrs, adv_s * 100, ptype, auth_type, bytes(auth))
    else:
        (word,) = struct.unpack("!H", payload[4:6])
        advert = Advert(3, vrid, prio, addrs, word & 0x0FFF, ptype)
    return Decoded(advert, form)


def parse_ipv4(datagram: bytes) -> tuple[str, str, int, bytes]:
    """Split what an IPv4 raw socket returns into (src, dst, ttl, payload).

    The payload length comes from the IP total length, so Ethernet padding is dropped.
    """
    if len(datagram) < 20 or datagram[0] >> 4 != 4:
        raise PacketError("packet_length_errors", "not an IPv4 datagram")
    ihl = (datagram[0] & 0x0F) * 4
    (total,) = struct.unpack("!H", datagram[2:4])
    if ihl < 20 or total < ihl or len(datagram) < total:
        raise PacketError("packet_length_errors", "truncated IPv4 header")
    src = socket.inet_ntoa(datagram[12:16])
    dst = socket.inet_ntoa(datagram[16:20])
    return src, dst, datagram[8], datagram[ihl:total]


def same_addresses(mine: frozenset[str], theirs: tuple[str, ...]) -> bool:
    """Compare VIP lists as sets of normalised addresses (prefix lengths are not sent)."""
    return mine == frozenset(str(ipaddress.ip_address(a)) for a in theirs)
