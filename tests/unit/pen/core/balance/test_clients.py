"""The client table (pen(1) -c, -T)."""
from __future__ import annotations

from pen.core.balance.clients import ClientTable
from pen.core.balance.servers import NO_SERVER


def test_lru_eviction_matches_c_pen_o1() -> None:
    """A.5 O1: -c 2; .2 .3 .2, then .4 evicts .3 (least recently used)."""
    t = ClientTable(2)
    t.store("127.0.0.2", 1, 0).server = 1
    t.store("127.0.0.3", 2, 0).server = 2
    t.store("127.0.0.2", 3, 0)
    c4 = t.store("127.0.0.4", 4, 0)
    assert c4.server == NO_SERVER and c4.connects == 1
    assert [c.address for c in t.recent(4, 300)] == ["127.0.0.2", "127.0.0.4"]
    assert t.get("127.0.0.3") is None
    # .3 returns: evicts .2 (LRU), takes slot 0; then .2 evicts .4 and takes slot 1
    t.store("127.0.0.3", 5, 0)
    t.store("127.0.0.2", 6, 0)
    assert [c.address for c in t.recent(6, 300)] == ["127.0.0.3", "127.0.0.2"]
    assert t.get("127.0.0.2").connects == 1      # a recycled slot starts again


def test_returning_client_keeps_server_and_counts() -> None:
    t = ClientTable(8)
    c = t.store("192.0.2.1", 10, 0)
    c.server = 3
    c.csx, c.crx = 100, 50
    again = t.store("192.0.2.1", 11, 0)
    assert again is c and again.server == 3 and again.connects == 2 and again.csx == 100


def test_tracking_time_really_expires() -> None:
    """-T 2: a client away for 3 s gets a fresh choice (C pen kept the old server: docs/compatibility.md)."""
    t = ClientTable(8)
    t.store("127.0.0.2", 100, 2).server = 1
    assert t.store("127.0.0.2", 101.5, 2).server == 1
    c = t.store("127.0.0.2", 104, 2)
    assert c.server == NO_SERVER and c.connects == 1


def test_tracking_zero_never_expires() -> None:
    t = ClientTable(8)
    t.store("a", 0.5, 0).server = 2
    assert t.store("a", 1e9, 0).server == 2


def test_recent_window_and_slot_order() -> None:
    t = ClientTable(8)
    for i, host in enumerate(["a", "b", "c"]):
        t.store(host, 100 + i, 0)
    assert [c.address for c in t.recent(102, 300)] == ["a", "b", "c"]
    assert [c.address for c in t.recent(102, 1)] == ["b", "c"]


def test_grow_only() -> None:
    t = ClientTable(2)
    assert t.grow(1) == 2
    assert t.grow(4) == 4
    for i in range(4):
        t.store(f"h{i}", i + 1, 0)
    assert len(t) == 4 and [c.slot for c in t.active()] == [0, 1, 2, 3]


def test_forget_frees_slot_for_reuse() -> None:
    t = ClientTable(2)
    t.store("a", 1, 0)
    t.store("b", 2, 0)
    t.forget("a")
    c = t.store("c", 3, 0)
    assert c.slot == 0 and t.get("b") is not None


def test_untrack_server() -> None:
    t = ClientTable(4)
    t.store("a", 1, 0).server = 1
    t.store("b", 1, 0).server = 2
    t.untrack_server(1)
    assert t.get("a").server == NO_SERVER and t.get("b").server == 2


def test_large_table_is_o1() -> None:
    t = ClientTable(100_000)
    for i in range(100_000):
        t.store(str(i), i, 0)
    t.store("new", 200_000, 0)          # evicts "0"
    assert t.get("0") is None and len(t) == 100_000


def test_a_peer_entry_is_merged_newest_wins_and_never_evicts_a_newer_client() -> None:
    from pen.core.balance.clients import ClientTable
    t = ClientTable(2)
    t.store("192.0.2.1", 10.0, 0).server = 0
    t.store("192.0.2.2", 20.0, 0).server = 1
    assert not t.merge("192.0.2.1", 1, 5.0)          # ours is newer
    assert t.merge("192.0.2.1", 1, 15.0) and t.get("192.0.2.1").server == 1
    assert t.get("192.0.2.1").connects == 1          # a merge is not a connect
    assert not t.merge("192.0.2.3", 0, 12.0)         # full: older than every client we hold
    assert t.merge("192.0.2.3", 0, 30.0) and t.get("192.0.2.3").server == 0
    assert len(t) == 2
