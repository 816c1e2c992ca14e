"""pen.core.inetsum: the Internet checksum of RFC 1071, which DSR's forged segments and VRRP
adverts carry (a wrong one and the receiver silently drops the packet)."""
from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st

from pen.core.inetsum import checksum

RFC1071_BYTES = bytes.fromhex("0001f203f4f5f6f7")


def test_the_rfc_1071_section_3_example() -> None:
    """RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to 2ddf0, folded ddf2; the checksum is
    its one's complement."""
    assert checksum(RFC1071_BYTES) == ~0xDDF2 & 0xFFFF == 0x220D


def test_an_odd_length_is_padded_with_a_zero_byte_at_the_end() -> None:
    """RFC 1071 §4.1: the left-over byte is the high byte of a last word."""
    assert checksum(RFC1071_BYTES + b"\x12") == checksum(RFC1071_BYTES + b"\x12\x00")
    assert checksum(b"\x12") == ~0x1200 & 0xFFFF


def test_nothing_and_zeros_sum_to_ffff() -> None:
    assert checksum(b"") == checksum(bytes(20)) == 0xFFFF


def test_carries_are_folded_more_than_once() -> None:
    """ffff + ffff = 1fffe folds to fffe + 1 = ffff, whose complement is 0."""
    assert checksum(b"\xff\xff\xff\xff") == 0
    assert checksum(b"\xff\xff\x00\x01") == ~0x0001 & 0xFFFF    # 10000 -> 0001


@given(st.binary(max_size=64).map(lambda b: b[: len(b) & ~1]))
def test_a_message_with_its_checksum_in_it_verifies_to_zero(data: bytes) -> None:
    """RFC 1071 §1: the receiver sums everything, checksum field included, and gets all ones
    (whose complement, what `checksum` returns, is 0)."""
    assert checksum(data + struct.pack("!H", checksum(data))) == 0


@given(st.binary(max_size=64).map(lambda b: b[: len(b) & ~1]))
def test_the_sum_is_byte_order_independent(data: bytes) -> None:
    """RFC 1071 §2(B): swapping the bytes of every word swaps the bytes of the sum."""
    swapped = b"".join(data[i + 1:i + 2] + data[i:i + 1] for i in range(0, len(data), 2))
    value = checksum(data)
    assert checksum(swapped) == ((value & 0xFF) << 8) | (value >> 8)
