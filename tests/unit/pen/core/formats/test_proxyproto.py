"""PROXY protocol v1/v2 encode/decode (HAProxy proxy-protocol.txt)."""
from __future__ import annotations

import socket

import pytest

from pen.core.formats.proxyproto import ProxyError, decode, encode_v1, encode_v2


def test_v1_round_trip_and_exact_bytes() -> None:
    h = encode_v1("192.0.2.1", 56324, "198.51.100.2", 443)
    assert h == b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"
    got = decode(h + b"GET / HTTP/1.1\r\n")
    assert (got.family, got.src, got.dst, got.src_port, got.dst_port, got.length) == \
        (socket.AF_INET, "192.0.2.1", "198.51.100.2", 56324, 443, len(h))


def test_v1_ipv6_and_mixed_families() -> None:
    assert encode_v1("2001:db8::1", 1, "2001:db8::2", 2) == b"PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n"
    mixed = decode(encode_v1("192.0.2.1", 1, "2001:db8::2", 2))
    assert mixed.family == socket.AF_INET6 and mixed.src == "::ffff:c000:201"


def test_v1_unknown_and_v2_local() -> None:
    assert decode(b"PROXY UNKNOWN\r\n").local
    assert decode(encode_v1("", 0, "", 0)).local
    assert decode(encode_v2("", 0, "", 0)).local


def test_v2_round_trip_v4_v6() -> None:
    h = encode_v2("192.0.2.1", 1234, "198.51.100.2", 80)
    assert len(h) == 16 + 12
    got = decode(h + b"payload")
    assert (got.src, got.src_port, got.dst, got.dst_port, got.length) == \
        ("192.0.2.1", 1234, "198.51.100.2", 80, 28)
    h6 = encode_v2("2001:db8::1", 5, "2001:db8::2", 6)
    got6 = decode(h6)
    assert got6.family == socket.AF_INET6 and got6.src == "2001:db8::1" and got6.length == 52


@pytest.mark.parametrize("split", range(1, 28))
def test_incomplete_headers_ask_for_more(split: int) -> None:
    h = encode_v2("192.0.2.1", 1234, "198.51.100.2", 80)
    assert decode(h[:split]) is None
    v1 = encode_v1("192.0.2.1", 1, "198.51.100.2", 2)
    if split < len(v1) - 1:
        assert decode(v1[:split]) is None


@pytest.mark.parametrize("data,msg", [
    (b"GET / HTTP/1.1\r\n", "no PROXY header"),
    (b"PROXZ TCP4", "bad PROXY v1 signature"),
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n", "bad port"),
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 01 1\r\n", "bad port"),
    (b"PROXY TCP4 ::1 5.6.7.8 1 1\r\n", "family does not match"),
    (b"PROXY TCP4 1.2.3.999 5.6.7.8 1 1\r\n", "bad address"),
    (b"PROXY TCP5 a b 1 2\r\n", "bad PROXY v1 line"),
    (b"PROXY " + b"A" * 120, "too long"),
    (b"\r\n\r\n\x00\r\nQUIX\n\x21\x11\x00\x0c", "signature"),
    (b"\r\n\r\n\x00\r\nQUIT\n\x31\x11\x00\x0c" + bytes(12), "version"),
    (b"\r\n\r\n\x00\r\nQUIT\n\x2f\x11\x00\x0c" + bytes(12), "command"),
    (b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x04" + bytes(4), "too short"),
])
def test_garbage_is_refused(data: bytes, msg: str) -> None:
    with pytest.raises(ProxyError, match=msg):
        decode(data)
