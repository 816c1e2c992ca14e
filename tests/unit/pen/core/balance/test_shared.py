"""The dispatcher over shared tables: two workers' stores on one buffer (pen.core.balance.shared)."""
from __future__ import annotations

import threading

from pen.core.balance.dispatch import CONNECT, REFUSE, Dispatcher
from pen.core.balance.shared import (C, CL_CRX, CL_CSX, RING, SharedStore, SharedTables,
                                     client_key, layout_size, segment_size)
from support.balance import state

NOW = 1000.0


def workers(n_servers: int = 2, n: int = 2, segments: dict[int, bytearray] | None = None,
            **settings) -> tuple[SharedTables, list[Dispatcher]]:
    """`segments`: generation -> the client table grown to (what the shell maps)."""
    clients_max = settings.get("clients_max", 2048)
    buf = bytearray(layout_size(n, clients_max))
    tables = SharedTables(buf, n, clients_max)
    tables.initialise()
    lock = threading.Lock()
    out = []
    for w in range(n):
        st = state(*range(10081, 10081 + n_servers), host="127.0.0.1", **settings)
        store = SharedStore(st, SharedTables(buf, n, clients_max), w, lock,
                            segment=None if segments is None else segments.__getitem__)
        out.append(Dispatcher(st, store))
    return tables, out


def test_a_tracked_client_keeps_its_server_whichever_worker_accepts_it() -> None:
    _, (w0, w1) = workers(3, roundrobin=False)
    t = w0.admit("192.0.2.7", 1, NOW)
    w0.connect_started(t, NOW, established=True)
    first = t.server
    for d in (w1, w0, w1):
        u = d.admit("192.0.2.7", 2, NOW + 1)
        assert u.step == CONNECT and u.server == first
        d.connect_started(u, NOW + 1, established=True)


def one_place() -> tuple[SharedTables, list[Dispatcher]]:
    """Two workers over one server that takes one connection (max and hard 1)."""
    tables, dispatchers = workers(1)
    for d in dispatchers:
        srv = d.state.servers.get(0)
        srv.maxc = srv.hard = 1
    return tables, dispatchers


def test_limits_are_exact_across_workers() -> None:
    tables, (w0, w1) = one_place()
    a = w0.admit("192.0.2.1", 1, NOW)
    assert a.step == CONNECT
    assert w1.admit("192.0.2.2", 1, NOW).step == REFUSE         # w0's reservation counts
    w0.connect_started(a, NOW, established=True)
    assert tables.server_sum(0, C) == 1
    assert w1.admit("192.0.2.3", 1, NOW).step == REFUSE
    w0.closed(a, NOW)
    assert w1.admit("192.0.2.4", 1, NOW).step == CONNECT


def test_conn_max_holds_over_the_sum_of_workers() -> None:
    _, (w0, w1) = workers(2, conn_max=1)
    a = w0.admit("192.0.2.1", 1, NOW)
    assert a.step == CONNECT
    assert not w1.can_accept(NOW)
    refused = w1.admit("192.0.2.2", 1, NOW)
    assert refused.step == REFUSE
    w1.closed(refused, NOW)                        # the shell closes what it was refused
    assert not w1.can_accept(NOW)
    w0.closed(a, NOW)
    assert w1.can_accept(NOW)


def test_a_blacklisting_is_seen_by_every_worker() -> None:
    _, (w0, w1) = workers(2, roundrobin=True)
    t = w0.admit("192.0.2.1", 1, NOW)
    w0.connect_started(t, NOW)
    failed = t.server
    w0.connect_failed(t, NOW, "refused")
    for _ in range(4):
        u = w1.admit("192.0.2.9", 1, NOW + 1)
        assert u.server != failed
        w1.closed(u, NOW + 1)


def test_a_dead_workers_places_are_released() -> None:
    tables, (w0, w1) = one_place()
    a = w0.admit("192.0.2.1", 1, NOW)
    w0.connect_started(a, NOW, established=True)
    assert w1.admit("192.0.2.2", 1, NOW).step == REFUSE
    tables.release_worker(0, into=1)
    assert tables.server_sum(0, C) == 0
    assert w1.admit("192.0.2.3", 1, NOW).step == CONNECT


def test_the_client_table_evicts_within_its_window_and_keeps_finding_clients() -> None:
    tables, (w0, _) = workers(2, clients_max=8)
    for i in range(200):
        t = w0.admit(f"198.51.100.{i % 250}", 1, NOW + i)
        w0.connect_started(t, NOW + i, established=True)
        w0.closed(t, NOW + i)
    assert sum(1 for _ in tables.entries()) <= tables.capacity
    t = w0.admit("198.51.100.199", 1, NOW + 300)
    assert t.client.connects == 2                  # the latest clients are still known


def test_client_keys() -> None:
    assert client_key("192.0.2.1") == bytes(10) + b"\xff\xff" + bytes([192, 0, 2, 1])
    assert client_key("2001:db8::1")[:4] == b"\x20\x01\x0d\xb8"
    assert len(client_key("")) == 16 and client_key("") != bytes(16)


def test_health_and_control_blacklists_reach_every_worker() -> None:
    from pen.core.health import CheckSpec, HealthState
    _, (main, w1) = workers(2, roundrobin=True)
    for d in (main, w1):
        s = d.state.servers.get(1)
        s.check, s.health = CheckSpec(kind="tcp", rise=1, fall=1), HealthState()
    assert main.health_result(main.state.servers.get(1), False, "refused", NOW) is False
    for _ in range(3):
        t = w1.admit("192.0.2.5", 1, NOW)
        assert t.server == 0                        # server 1 is down for w1 too
        w1.closed(t, NOW)
    store = main.store
    before = {s.index: s.blacklisted_at for s in main.state.servers.servers}
    main.state.servers.get(0).blacklisted_at = NOW + 100   # what `server 0 blacklist T` does
    store.publish_blacklistings(before)
    assert w1.admit("192.0.2.5", 1, NOW).step == REFUSE   # 0 blacklisted, 1 down


def test_the_main_process_lists_every_workers_clients() -> None:
    from pen.core.balance.clients import ClientTable
    _, (w0, w1) = workers(2)
    for d, host in ((w0, "192.0.2.1"), (w1, "2001:db8::5"), (w1, "192.0.2.1")):
        t = d.admit(host, 1, NOW)
        d.connect_started(t, NOW, established=True)
    table = ClientTable(16)
    w0.store.export_clients(table)
    got = {c.address: c.connects for c in table.active()}
    assert got == {"192.0.2.1": 2, "2001:db8::5": 1}


def test_round_robin_is_one_sequence_across_workers() -> None:
    _, (w0, w1) = workers(3, roundrobin=True)
    picks = []
    for d in (w0, w1, w1, w0, w1, w0):
        t = d.admit("192.0.2.1", 1, NOW)
        picks.append(t.server)
        d.closed(t, NOW)
    assert picks == [1, 2, 0, 1, 2, 0]            # as one process: C pen's first pick is 1


def test_client_bytes_reach_the_shared_table_at_close() -> None:
    from pen.core.balance.clients import ClientTable
    _, (w0, w1) = workers(1)
    t = w1.admit("192.0.2.1", 1, NOW)
    w1.connect_started(t, NOW, established=True)
    t.client.csx, t.client.crx = 100, 7          # what the data path counts
    w1.closed(t, NOW)
    table = ClientTable(4)
    w0.store.export_clients(table)
    (c,) = table.active()
    assert (c.csx, c.crx) == (100, 7)


def test_ipv4_clients_spread_over_the_whole_table() -> None:
    """Every IPv4 client in one probe window kept only 16 of them (found by issue 17's test:
    16 of 20 clients tracked with --workers 2)."""
    tables, (w0, _) = workers(2)
    hosts = [f"198.51.100.{i}" for i in range(200)] + [f"192.0.2.{i}" for i in range(100)]
    for h in hosts:
        t = w0.admit(h, 1, NOW)
        w0.connect_started(t, NOW, established=True)
        w0.closed(t, NOW)
    assert sum(1 for _ in tables.entries()) == len(hosts)
    assert all(tables.find(client_key(h)) >= 0 for h in hosts)


def grow(d: Dispatcher, segments: dict[int, bytearray], capacity: int) -> None:
    """What the main process does for `clients_max`: under the lock, a new segment."""
    store = d.store
    assert isinstance(store, SharedStore)
    seg = bytearray(segment_size(capacity))
    with store.lock:
        store.tables.grow(seg, capacity)
        segments[store.tables.generation] = seg


def visit(d: Dispatcher, host: str, now: float, sx: int = 0) -> int:
    t = d.admit(host, 1, now)
    d.connect_started(t, now, established=True)
    t.client.csx = sx
    d.closed(t, now)
    return t.server


def test_the_client_table_grows_keeping_every_entry_and_every_process_follows() -> None:
    segments: dict[int, bytearray] = {}
    tables, (main, w1) = workers(3, segments=segments, clients_max=8)   # 64 entries
    hosts = [f"198.51.100.{i}" for i in range(40)]
    ties = {h: visit(w1, h, NOW + i, sx=i) for i, h in enumerate(hosts)}
    before = {h: (tables.cl[tables.find(client_key(h)) * 4:][:4].tolist(),
                  tables.last[tables.find(client_key(h))]) for h in hosts}
    head = tables.ring_head[0]
    grow(main, segments, 256)
    grown = main.store.tables                       # the grower's own views moved on
    assert grown.capacity == 256 and grown.generation == 1
    for h in hosts:                                 # rehashed: probing finds every one
        i = grown.find(client_key(h))
        assert i >= 0
        assert (grown.cl[i * 4:i * 4 + 4].tolist(), grown.last[i]) == before[h]
    assert w1.store.tables.generation == 0          # stale until its next lock
    for h in hosts[:5]:
        assert visit(w1, h, NOW + 100) == ties[h]   # its server kept, in the other process
    assert w1.store.tables.generation == 1 and w1.store.tables.capacity == 256
    i = grown.find(client_key(hosts[0]))
    assert grown.cl[i * 4 + 1] == 2                 # connects: both visits, one entry
    # the ring's entry numbers were the old table's: its reader is told to read everything
    assert grown.changes_since(head)[2] is True
    assert grown.changes_since(grown.ring_head[0]) == ([], grown.ring_head[0], False)
    assert grown.ring_head[0] - head > RING


def test_a_grown_table_holds_more_clients_than_the_first_could() -> None:
    segments: dict[int, bytearray] = {}
    tables, (main, w1) = workers(2, segments=segments, clients_max=8)
    grow(main, segments, 512)
    hosts = [f"203.0.113.{i}" for i in range(200)] + [f"2001:db8::{i:x}" for i in range(100)]
    ties = {h: visit(w1, h, NOW) for h in hosts}
    t = w1.store.tables
    assert sum(1 for _ in t.entries()) == len(hosts) > 64
    assert all(visit(main, h, NOW + 1) == ties[h] for h in hosts)


def test_a_connection_that_ends_after_the_growth_counts_in_the_new_table() -> None:
    """Its client's slot was the old table's: the bytes and a later tie follow the entry."""
    segments: dict[int, bytearray] = {}
    _, (main, w1) = workers(2, segments=segments, clients_max=8)
    for i in range(30):
        visit(w1, f"192.0.2.{i}", NOW)
    t = w1.admit("192.0.2.29", 1, NOW)
    w1.connect_started(t, NOW, established=True)
    grow(main, segments, 1024)
    t.client.csx, t.client.crx = 500, 9
    w1.closed(t, NOW)                              # w1 is stale: it follows, then adds
    grown = main.store.tables
    i = grown.find(client_key("192.0.2.29"))
    assert (grown.cl[i * 4 + CL_CSX], grown.cl[i * 4 + CL_CRX]) == (500, 9)
    assert t.client.slot == i


def test_the_client_table_only_grows() -> None:
    import pytest
    tables, _ = workers(2, clients_max=8)
    for capacity in (32, 64):
        with pytest.raises(ValueError):
            tables.grow(bytearray(segment_size(capacity)), capacity)
    with pytest.raises(ValueError):
        tables.grow(bytearray(segment_size(64)), 128)           # too small a buffer
    assert tables.capacity == 64 and tables.generation == 0
