"""Direct Server Return and the tarpit, as pure frame functions (docs/dataplane.md, "Direct
Server Return").

C pen's dsr.c, reproduced: pen owns no socket for the virtual address (VIP).  It answers ARP
for the VIP (and for every address the tarpit ACL matches) with its own MAC, receives the
clients' Ethernet frames for the VIP, and sends each one out again on the same segment with
the destination MAC of the chosen backend.  The backends hold the VIP on a non-ARPing
interface (lo) and answer the clients directly.  Server choice is a 256-slot index, filled by
weight and stepped through 3 at a time, keyed by the XOR of the source address bytes (and of
the source port bytes with -r).  The tarpit answers every SYN to a tarpitted address with a
forged SYN+ACK (sequence number 42), so each port of each tarpitted address looks open.

Nothing here touches a socket: the shell (pen/engine/dsr.py) reads frames and sends what these
functions return.
"""
from __future__ import annotations

import struct

from pen.core.inetsum import checksum
from pen.core.numbers import ascii_decimal
from dataclasses import dataclass

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_HLEN = 14
ARP_LEN = 28
HASH_INDEX_SIZE = 256
HASH_STEP = 3
TARPIT_SEQ = 42          # "our random number" (dsr.c)
BROADCAST = b"\xff" * 6
PROTO_TCP = 6
PROTO_UDP = 17


def mac_text(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def ip4(addr: bytes) -> str:
    return ".".join(str(b) for b in addr)


def ip4_bytes(text: str) -> bytes:
    parts = text.split(".")
    if len(parts) != 4:
        raise ValueError(f"not an IPv4 address: {text!r}")
    numbers = [ascii_decimal(p, 3) for p in parts]
    if any(n is None or n > 255 for n in numbers):
        raise ValueError(f"not an IPv4 address: {text!r}")
    return bytes(n or 0 for n in numbers)


def ethertype(frame: bytes) -> int:
    return struct.unpack_from("!H", frame, 12)[0] if len(frame) >= ETH_HLEN else -1


# -- ARP -------------------------------------------------------------------------------------------
@dataclass(slots=True, frozen=True)
class Arp:
    oper: int
    sha: bytes
    spa: bytes
    tha: bytes
    tpa: bytes


def parse_arp(frame: bytes) -> Arp | None:
    """An Ethernet/IPv4 ARP packet, or None for anything else."""
    if ethertype(frame) != ETH_P_ARP or len(frame) < ETH_HLEN + ARP_LEN:
        return None
    htype, ptype, hlen, plen, oper = struct.unpack_from("!HHBBH", frame, ETH_HLEN)
    if htype != 1 or ptype != ETH_P_IP or hlen != 6 or plen != 4:
        return None
    p = ETH_HLEN + 8
    return Arp(oper, frame[p:p + 6], frame[p + 6:p + 10], frame[p + 10:p + 16],
               frame[p + 16:p + 20])


def arp_frame(dst: bytes, src: bytes, oper: int, sha: bytes, spa: bytes, tha: bytes,
              tpa: bytes) -> bytes:
    return (dst + src + struct.pack("!HHHBBH", ETH_P_ARP, 1, ETH_P_IP, 6, 4, oper)
            + sha + spa + tha + tpa)


def arp_request(our_mac: bytes, target: bytes) -> bytes:
    """Who has `target`?  Sender address 0.0.0.0, as dsr.c's send_arp_request (an RFC 5227
    probe: the director need not own an address on the segment)."""
    return arp_frame(BROADCAST, our_mac, 1, our_mac, b"\0\0\0\0", b"\0" * 6, target)


def arp_reply(arp: Arp, our_mac: bytes) -> bytes:
    """`arp.tpa` is at `our_mac` (dsr.c arp_frame: the VIP, or a tarpitted address)."""
    return arp_frame(arp.sha, our_mac, 2, our_mac, arp.tpa, arp.sha, arp.spa)


# -- IPv4 ------------------------------------------------------------------------------------------
@dataclass(slots=True, frozen=True)
class Ipv4:
    proto: int
    src: bytes
    dst: bytes
    ihl: int           # header length in bytes
    sport: int
    dport: int
    tcp_flags: int     # 0 for UDP


def parse_ipv4(frame: bytes) -> Ipv4 | None:
    if ethertype(frame) != ETH_P_IP or len(frame) < ETH_HLEN + 20:
        return None
    vihl = frame[ETH_HLEN]
    ihl = (vihl & 0x0F) * 4
    if vihl >> 4 != 4 or ihl < 20:
        return None
    proto = frame[ETH_HLEN + 9]
    src = frame[ETH_HLEN + 12:ETH_HLEN + 16]
    dst = frame[ETH_HLEN + 16:ETH_HLEN + 20]
    l4 = ETH_HLEN + ihl
    if proto == PROTO_TCP and len(frame) >= l4 + 20:
        sport, dport = struct.unpack_from("!HH", frame, l4)
        return Ipv4(proto, src, dst, ihl, sport, dport, frame[l4 + 13])
    if proto == PROTO_UDP and len(frame) >= l4 + 8:
        sport, dport = struct.unpack_from("!HH", frame, l4)
        return Ipv4(proto, src, dst, ihl, sport, dport, 0)
    return Ipv4(proto, src, dst, ihl, 0, 0, 0)


def forward(frame: bytes, our_mac: bytes, server_mac: bytes) -> bytes:
    """The client's frame, re-addressed at layer 2 to the backend (dsr.c ipv4_frame)."""
    return server_mac + our_mac + frame[12:]


def fill_l4_checksum(frame: bytes) -> bytes:
    """Complete a TCP/UDP checksum the sender left to offload (a frame that came from a
    local veth or tap with CHECKSUM_PARTIAL carries only the pseudo-header sum)."""
    ip = parse_ipv4(frame)
    if ip is None or ip.proto not in (PROTO_TCP, PROTO_UDP):
        return frame
    total_len = struct.unpack_from("!H", frame, ETH_HLEN + 2)[0]
    l4 = ETH_HLEN + ip.ihl
    end = ETH_HLEN + total_len
    seg = bytearray(frame[l4:end])
    at = 16 if ip.proto == PROTO_TCP else 6
    if len(seg) < at + 2:
        return frame
    seg[at:at + 2] = b"\0\0"
    pseudo = ip.src + ip.dst + struct.pack("!BBH", 0, ip.proto, len(seg))
    value = checksum(pseudo + bytes(seg))
    if ip.proto == PROTO_UDP and value == 0:
        value = 0xFFFF
    seg[at:at + 2] = struct.pack("!H", value)
    return frame[:l4] + bytes(seg) + frame[end:]


def tarpit_synack(frame: bytes) -> bytes | None:
    """The forged SYN+ACK for a SYN to a tarpitted address; None for anything but a SYN.

    dsr.c swapped the addresses in place and zeroed the SYN's options, leaving them in the
    frame as payload and summing a fixed 40-byte segment; here the answer is a clean
    20-byte-header SYN+ACK (seq 42, ack = their seq + 1, their window) with correct IP and
    TCP checksums, which is what C pen's produced whenever the SYN carried 20 option bytes.
    """
    ip = parse_ipv4(frame)
    if ip is None or ip.proto != PROTO_TCP or not ip.tcp_flags & 0x02 or ip.tcp_flags & 0x10:
        return None
    l4 = ETH_HLEN + ip.ihl
    seq, = struct.unpack_from("!I", frame, l4 + 4)
    window, = struct.unpack_from("!H", frame, l4 + 14)
    ttl = 64
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 0, 0x4000, ttl, PROTO_TCP, 0,
                         ip.dst, ip.src)
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    tcp = struct.pack("!HHIIBBHHH", ip.dport, ip.sport, TARPIT_SEQ, (seq + 1) & 0xFFFFFFFF,
                      5 << 4, 0x12, window, 0, 0)
    pseudo = ip.dst + ip.src + struct.pack("!BBH", 0, PROTO_TCP, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    return frame[6:12] + frame[0:6] + struct.pack("!H", ETH_P_IP) + header + tcp


# -- server choice -----------------------------------------------------------------------------------
def hash_index(weights: list[int | None]) -> list[int] | None:
    """dsr.c rebuild_hash_index: `weights[i]` is None for an unavailable server, and weight 0
    counts as 1.  Each server gets a share of the 256 slots proportional to its weight; the
    slots are filled stepping 3 at a time.  None when no server is available."""
    shares = [None if w is None else (w if w > 0 else 1) for w in weights]
    total = sum(s for s in shares if s is not None)
    if total == 0:
        return None
    left = HASH_INDEX_SIZE
    slots: list[int] = []
    for share in shares:
        if share is None:
            slots.append(0)
            continue
        w = left * share // total
        left -= w
        total -= share
        slots.append(w)
    index = [0] * HASH_INDEX_SIZE
    i = j = 0
    for _ in range(HASH_INDEX_SIZE):
        while slots[j] <= 0:
            j += 1
        index[i] = j
        slots[j] -= 1
        i = (i + HASH_STEP) % HASH_INDEX_SIZE
    return index


def dsr_hash(src: bytes, sport: int, roundrobin: bool) -> int:
    """dsr.c hash: XOR of the four source-address bytes, and of the port's two with -r."""
    h = src[0] ^ src[1] ^ src[2] ^ src[3]
    if roundrobin:
        h ^= (sport & 0xFF) ^ (sport >> 8)
    return h
