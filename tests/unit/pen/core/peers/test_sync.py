"""Peer synchronisation over in-memory byte pipes (pen.core.peers.sync, .tables): two real
dispatchers, their tables kept in step; replay, bad keys, dead peers, backoff."""
from __future__ import annotations

import itertools
import threading

import pytest

from pen.core.balance.dispatch import Dispatcher
from pen.core.peers import codec, sync
from pen.core.peers.sync import Dial, Link, PeerSync
from pen.core.peers.tables import PlainTable, SharedTable
from pen.core.balance.shared import SharedStore, SharedTables, client_key, layout_size
from pen.core.balance.store import PlainStore
from support.balance import state

NOW = 1000.0
NAMES = itertools.count()
KEY = b"secret" * 6


def node(ports=(10081, 10082, 10083), **settings) -> tuple[Dispatcher, PeerSync]:
    st = state(*ports, **settings)
    d = Dispatcher(st)
    assert isinstance(d.store, PlainStore)
    return d, PeerSync(PlainTable(st, d.store), KEY, f"node {next(NAMES)}")


def connect(a: PeerSync, b: PeerSync, now: float = NOW, key_b: bytes | None = None):
    """a dials b: the links, after the handshake and a's whole table."""
    la, hello_a = a.open_link(True, b"A" * 16, now)
    if key_b is not None:
        b.key = key_b
    lb, hello_b = b.open_link(False, b"B" * 16, now)
    pump(a, la, b, lb, hello_a, hello_b, now)
    return la, lb


def pump(a, la, b, lb, to_b: bytes, to_a: bytes, now: float) -> None:
    for _ in range(10):
        if not to_b and not to_a:
            return
        nb = b.data(lb, to_b, now) if to_b else b""
        na = a.data(la, to_a, now) if to_a else b""
        to_a, to_b = nb, na


def visit(d: Dispatcher, host: str, now: float) -> int:
    t = d.admit(host, 1, now)
    d.connect_started(t, now, established=True)
    server = t.server
    d.closed(t, now)
    return server


def flush(a, la, b, lb, now):
    out = a.flush(now)
    back = b.flush(now)
    pump(a, la, b, lb, out.get(la, b""), back.get(lb, b""), now)


def test_the_whole_table_on_connect_then_changes_and_a_client_keeps_its_server() -> None:
    (da, a), (db, b) = node(roundrobin=False), node(ports=(10083, 10081, 10082))
    before = {f"198.51.100.{i}": visit(da, f"198.51.100.{i}", NOW) for i in range(20)}
    la, lb = connect(a, b)
    assert la.up and lb.up and la.counters.sent == 20 and lb.counters.applied == 20
    later = {f"198.51.100.{50 + i}": visit(da, f"198.51.100.{50 + i}", NOW + 1) for i in range(5)}
    flush(a, la, b, lb, NOW + 1.05)
    assert lb.counters.received == 25
    # b's slots are in another order: the same *address and port*, not the same slot number
    for host, index in {**before, **later}.items():
        port = da.state.servers.get(index).port
        assert db.state.servers.get(visit(db, host, NOW + 2)).port == port


def test_newest_wins_and_expired_entries_are_not_taken() -> None:
    (da, a), (db, b) = node(tracking=60), node(tracking=60)
    visit(da, "198.51.100.1", NOW)                  # a saw it at NOW
    visit(db, "198.51.100.1", NOW + 5)              # b more recently: b keeps its own
    visit(da, "198.51.100.2", NOW - 100)            # older than -T: not shared
    la, lb = connect(a, b, NOW + 6)
    assert lb.counters.applied == 0 and la.counters.sent == 1
    assert lb.counters.stale == 1


def test_a_wrong_key_closes_the_connection_counted() -> None:
    (_, a), (_, b) = node(), node()
    la, lb = connect(a, b, key_b=b"another key")
    assert not lb.up and lb.closed and "authentication" in lb.closed
    assert lb.counters.auth == 1 and lb.counters.applied == 0


def test_replayed_and_garbage_frames_are_counted_and_dropped() -> None:
    (da, a), (db, b) = node(), node()
    la, lb = connect(a, b)
    flush(a, la, b, lb, NOW + 0.05)                  # the configurations, once
    visit(da, "198.51.100.1", NOW)
    out = a.flush(NOW + 0.1)[la]
    assert b.data(lb, out, NOW + 0.1) == b"" and lb.counters.applied == 1
    b.data(lb, out, NOW + 0.2)                       # the same frame again
    assert lb.counters.replay == 1 and lb.up
    forged = codec.frame(codec.TABLE, la.seq_out + 1, codec.payload_table(0, []), b"x", b"B" * 16)
    b.data(lb, forged, NOW + 0.3)
    assert lb.counters.auth == 1 and lb.up
    b.data(lb, b"\xff\xff\xff\xff", NOW + 0.4)       # framing lost: the connection goes
    assert lb.counters.malformed == 1 and not lb.up


def test_a_silent_peer_is_dead_and_pings_keep_an_idle_one_alive() -> None:
    (_, a), (_, b) = node(), node()
    la, lb = connect(a, b)
    t = NOW
    for _ in range(10):                              # 10 s idle, pinging both ways
        t += 1.0
        flush(a, la, b, lb, t)
    assert la.up and lb.up
    a.flush(t + sync.DEAD_AFTER + 1)                 # b stopped answering
    assert not la.up and "nothing received" in (la.closed or "")


def test_a_handshake_that_never_completes_times_out() -> None:
    (_, a), _ = node(), node()
    la, _ = a.open_link(True, b"A" * 16, NOW)
    a.flush(NOW + sync.HANDSHAKE_TIMEOUT + 0.1)
    assert la.closed


def test_reconnect_backoff_doubles_to_its_ceiling_and_starts_over_after_a_stable_link() -> None:
    d = Dial("192.0.2.9:7000")
    assert d.due(NOW)
    waits = []
    t = NOW
    for _ in range(10):
        d.connecting_since = t
        d.lost(t, "refused")
        waits.append(round(d.next_try - t, 2))
        t = d.next_try
    assert waits[:3] == [0.2, 0.4, 0.8] and waits[-1] == sync.BACKOFF_MAX
    d.link = Link(KEY, b"A" * 16, "n", True, t)
    d.lost(t + sync.STABLE + 1, "reset")
    assert d.next_try - (t + sync.STABLE + 1) == pytest.approx(sync.BACKOFF_MIN)


def test_a_restarted_peer_gets_the_table_again() -> None:
    (da, a), (db, b) = node(), node()
    hosts = [f"198.51.100.{i}" for i in range(10)]
    servers = {h: visit(da, h, NOW) for h in hosts}
    connect(a, b)
    db2, b2 = node()                                 # b restarted: an empty table
    la, lb = connect(a, b2, NOW + 3)
    assert lb.counters.applied == 10
    assert {h: visit(db2, h, NOW + 4) for h in hosts} == servers


def test_unknown_servers_are_counted_not_taken() -> None:
    (da, a), (db, b) = node(ports=(10081, 10099)), node(ports=(10081,))
    for i in range(10):
        visit(da, f"198.51.100.{i}", NOW)
    la, lb = connect(a, b)
    assert lb.counters.unknown + lb.counters.applied == 10 and lb.counters.unknown > 0


def test_configuration_changes_are_sent_and_seen() -> None:
    (da, a), (db, b) = node(), node()
    la, lb = connect(a, b)
    assert la.their_config == lb.their_config
    db.state.settings.hash = True
    flush(a, la, b, lb, NOW + 0.1)
    assert la.their_config is not None and la.their_config.settings["hash"] == "True"


def test_shared_tables_feed_the_peers_and_take_their_entries() -> None:
    n, clients_max = 2, 256
    buf = bytearray(layout_size(n, clients_max))
    lock = threading.Lock()
    tables = SharedTables(buf, n, clients_max)
    tables.initialise()
    states = []
    for w in range(n):
        states.append(state(10081, 10082, 10083, clients_max=clients_max))
    worker = Dispatcher(states[0], SharedStore(states[0], SharedTables(buf, n, clients_max), 0, lock))
    main = SharedStore(states[1], SharedTables(buf, n, clients_max), 1, lock)
    a = PeerSync(SharedTable(states[1], main), KEY, "a")
    (db, b) = node()
    servers = {f"198.51.100.{i}": visit(worker, f"198.51.100.{i}", NOW) for i in range(5)}
    la, lb = connect(a, b)
    assert lb.counters.applied == 5
    servers["198.51.100.9"] = visit(worker, "198.51.100.9", NOW + 1)
    flush(a, la, b, lb, NOW + 1.1)
    assert lb.counters.applied == 6
    assert {h: visit(db, h, NOW + 2) for h in servers} == servers
    # and the other way: b's clients reach the shared table through a (b dials a)
    lb2, la2 = connect(b, a, NOW + 3)
    visit(db, "203.0.113.5", NOW + 3)   # noqa: TEST-NET-3 as a client address
    flush(b, lb2, a, la2, NOW + 3.1)
    assert la2.counters.applied >= 1
    i = tables.find(client_key("203.0.113.5"))
    assert i >= 0 and tables.last[i] > 0


def test_a_connection_to_this_node_itself_is_closed_and_never_dialled_again() -> None:
    _, a = node()
    la, hello = a.open_link(True, b"A" * 16, NOW)
    lb, hello_b = a.open_link(False, b"B" * 16, NOW)   # our own listener accepted it
    a.data(lb, hello, NOW)
    a.data(la, hello_b, NOW)
    assert la.closed == sync.SELF and lb.closed == sync.SELF
    d = Dial("192.0.2.11:7070")
    d.lost(NOW, sync.SELF)
    assert not d.due(NOW + 3600)
    d.back(NOW + 1)
    assert not d.due(NOW + 3600)


def test_a_peer_that_connects_to_us_is_dialled_back_at_once() -> None:
    d = Dial("192.0.2.12:7070")
    t = NOW
    for _ in range(6):
        d.lost(t, "refused")
    assert not d.due(t + 1)
    d.back(t + 1)
    assert d.due(t + 1) and d.backoff == sync.BACKOFF_MIN
