"""Fuzzing the peer protocol (issue 17): random bytes and mutated valid frames fed to a live
link never raise; every frame is either taken or counted as malformed, unauthenticated or
replayed."""
from __future__ import annotations

import socket

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pen.core.peers import codec
from pen.core.peers.codec import CodecError
from pen.core.peers.sync import PeerSync
from pen.core.peers.tables import PlainTable
from pen.core.balance.dispatch import Dispatcher
from pen.core.balance.shared import client_key
from pen.core.balance.state import PenState
from pen.core.balance.store import PlainStore
from pen.settings import Settings

FAST = settings(max_examples=300, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
KEY = b"fuzz-key"
THEIR, MINE = b"T" * 16, b"M" * 16


def receiver() -> tuple[PeerSync, object]:
    state = PenState(Settings())
    state.servers.ensure(0).set_address(socket.AF_INET, "192.0.2.1", 80, ("192.0.2.1", 80))
    d = Dispatcher(state)
    assert isinstance(d.store, PlainStore)
    sync = PeerSync(PlainTable(state, d.store), KEY, "r")
    link, _ = sync.open_link(False, MINE, 0.0)
    return sync, link


def valid_stream() -> bytes:
    hello = codec.frame(codec.HELLO, 0, codec.payload_hello(codec.Hello(THEIR, "s")), KEY, b"")
    cfg = codec.frame(codec.CONFIG, 1, codec.payload_config(codec.Config(
        [("192.0.2.1", 80)], {"hash": "False"})), KEY, MINE)
    rows = [(client_key(f"198.51.100.{i}"), i * 10, ("192.0.2.1", 80)) for i in range(5)]
    table = codec.frame(codec.TABLE, 2, codec.payload_table(3, rows), KEY, MINE)
    return hello + cfg + table + codec.frame(codec.PING, 3, b"", KEY, MINE)


VALID = valid_stream()


@FAST
@given(st.binary(max_size=400))
def test_random_bytes(data: bytes) -> None:
    sync, link = receiver()
    sync.data(link, data, 1.0)
    sync.flush(1.1)


@FAST
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), max_size=6),
       st.integers(0, len(VALID)), st.integers(1, 64))
def test_mutated_frames(flips: list[tuple[int, int]], cut: int, chunk: int) -> None:
    data = bytearray(VALID)
    for at, value in flips:
        data[at] = value
    data = data[:cut] if cut else data
    sync, link = receiver()
    for at in range(0, len(data), chunk):           # delivered in pieces, as TCP may
        sync.data(link, bytes(data[at:at + chunk]), 1.0)
    c = link.counters
    if not flips and cut in (0, len(VALID)):
        assert c.bad() == 0 and c.applied == 5
    else:
        assert c.applied <= 5


@FAST
@given(st.integers(0, 255), st.binary(max_size=300))
def test_payload_decoding_raises_only_its_own_error(kind: int, payload: bytes) -> None:
    try:
        codec.decode_payload(kind, payload)
    except CodecError:
        pass
