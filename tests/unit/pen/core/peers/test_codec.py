"""The peer wire format (pen.core.peers.codec): round trips, authentication, framing."""
from __future__ import annotations

import pytest

from pen.core.peers import codec
from pen.core.peers.codec import CodecError, Config, Hello, Table
from pen.core.balance.shared import client_key

KEY = b"k" * 32
NONCE = b"n" * 16


def one(data: bytes, key: bytes = KEY, nonce: bytes = NONCE) -> codec.Message:
    d = codec.Decoder()
    d.feed(data)
    got = d.next_frame()
    assert got is not None and d.next_frame() is None
    kind, seq, body, mac = got
    if not codec.check_mac(key, b"" if kind == codec.HELLO else nonce, body, mac):
        raise CodecError("auth", "bad mac")
    return codec.decode_payload(kind, codec.payload_of(body))


def test_round_trips() -> None:
    h = one(codec.frame(codec.HELLO, 0, codec.payload_hello(Hello(NONCE, "node-a")), KEY, b""))
    assert h == Hello(NONCE, "node-a")
    cfg = Config([("192.0.2.1", 80), ("", 0), ("2001:db8::1", 8080)], {"hash": "True", "x": "é"})
    assert one(codec.frame(codec.CONFIG, 1, codec.payload_config(cfg), KEY, NONCE)) == cfg
    rows = [(client_key("198.51.100.7"), 1500, ("192.0.2.1", 80)),
            (client_key("2001:db8::9"), 0, ("192.0.2.2", 80)),
            (client_key("198.51.100.8"), 0xFFFFFFFF + 5, ("192.0.2.1", 80))]
    t = one(codec.frame(codec.TABLE, 2, codec.payload_table(codec.FULL_START, rows), KEY, NONCE))
    assert isinstance(t, Table) and t.flags == codec.FULL_START
    assert [(e.key, e.age_ms, e.server) for e in t.entries] == [
        rows[0], rows[1], (rows[2][0], 0xFFFFFFFF, rows[2][2])]     # ages saturate


def test_servers_are_named_once_per_frame_by_address_and_port() -> None:
    rows = [(client_key(f"198.51.100.{i}"), i, ("192.0.2.1", 80)) for i in range(50)]
    payload = codec.payload_table(0, rows)
    assert payload.count(b"192.0.2.1") == 1
    assert len(payload) < 50 * 23 + 20


def test_a_wrong_key_or_a_foreign_nonce_fails_authentication() -> None:
    data = codec.frame(codec.PING, 1, b"", KEY, NONCE)
    with pytest.raises(CodecError) as e:
        one(data, key=b"other")
    assert e.value.kind == "auth"
    with pytest.raises(CodecError):
        one(data, nonce=b"m" * 16)          # recorded on another connection
    assert isinstance(one(data), codec.Ping)


@pytest.mark.parametrize("length", [0, 5, codec.MAX_FRAME + 1])
def test_a_bad_length_is_malformed(length: int) -> None:
    d = codec.Decoder()
    d.feed(length.to_bytes(4, "big") + bytes(64))
    with pytest.raises(CodecError) as e:
        d.next_frame()
    assert e.value.kind == "malformed"


def test_frames_split_anywhere_come_out_whole() -> None:
    data = b"".join(codec.frame(codec.PING, i, b"", KEY, NONCE) for i in range(1, 4))
    d = codec.Decoder()
    seqs = []
    for b in data:
        d.feed(bytes([b]))
        got = d.next_frame()
        if got:
            seqs.append(got[1])
    assert seqs == [1, 2, 3]


@pytest.mark.parametrize("payload", [b"\x00", b"\x00\x00\x01", b"\x00\x00\x00\x00\x00\x00\x00\x01"
                                     + bytes(10), b"\x00" * 9 + b"x"])
def test_truncated_or_trailing_payloads_are_malformed(payload: bytes) -> None:
    with pytest.raises(CodecError) as e:
        codec.decode_payload(codec.TABLE, payload)
    assert e.value.kind == "malformed"


def test_an_entry_naming_a_server_the_frame_does_not_list_is_malformed() -> None:
    payload = bytes([0]) + (0).to_bytes(2, "big") + (1).to_bytes(4, "big") + bytes(16) + \
        (0).to_bytes(4, "big") + (3).to_bytes(2, "big")
    with pytest.raises(CodecError, match="reference"):
        codec.decode_payload(codec.TABLE, payload)
