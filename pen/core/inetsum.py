"""The Internet checksum (RFC 1071), used by DSR's forged segments and by VRRP adverts."""
from __future__ import annotations

import struct


def checksum(data: bytes) -> int:
    """One's-complement sum of 16-bit words, folded and inverted."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF
