"""pen.core.peers.tables: the client table as the peers see it, one process's or the workers'
shared one (docs/peers.md "What is shared, and how").  The peers' protocol over these is
test_sync.py's."""
from __future__ import annotations

import socket
import threading

import pytest

from pen.core.balance.clients import UNIX_CLIENT
from pen.core.balance.shared import SharedStore, SharedTables, client_key, layout_size
from pen.core.balance.store import PlainStore
from pen.core.peers.codec import Entry
from pen.core.peers.tables import DRIFT_SETTINGS, PlainTable, SharedTable, config_of
from support.balance import state

NOW = 1000.0
A, B = "198.51.100.1", "198.51.100.2"


def plain(*ports: int, **settings: object) -> PlainTable:
    st = state(*ports, **settings)
    return PlainTable(st, PlainStore(st))


def visit(table: PlainTable, host: str, server: int, now: float) -> None:
    """A connection tracked to `server`, recorded as the dispatcher records it."""
    client = table.store.track(host, now)
    client.server = server
    table.store.tracked(client)


def test_an_entry_names_its_server_by_address_and_port_and_carries_its_age() -> None:
    """Never the slot number (the nodes' slot lists may differ); the age in ms, so -T agrees
    without the clocks agreeing."""
    t = plain(81, 82)
    visit(t, A, 1, NOW)
    assert t.snapshot(NOW + 0.25) == [(client_key(A), 250, ("192.0.2.1", 82))]


def test_untracked_unix_expired_and_removed_server_entries_are_not_shared() -> None:
    t = plain(81, 82, 83, tracking=60)
    t.store.track("198.51.100.9", NOW)                 # no server chosen yet
    visit(t, UNIX_CLIENT, 0, NOW)
    visit(t, "198.51.100.8", 0, NOW - 61)              # older than -T
    visit(t, "198.51.100.7", 2, NOW)
    t.state.servers.servers[2].set_address(socket.AF_INET, "0.0.0.0", 0, ("0.0.0.0", 0))
    visit(t, A, 0, NOW)
    assert [row[0] for row in t.snapshot(NOW)] == [client_key(A)]
    assert [row[0] for row in t.drain(NOW)] == []      # the snapshot sent them all


def test_drain_sends_what_was_tracked_since_the_last_flush_once() -> None:
    t = plain(81)
    visit(t, A, 0, NOW)
    assert [row[0] for row in t.drain(NOW)] == [client_key(A)]
    assert t.drain(NOW) == []
    visit(t, B, 0, NOW + 1)
    visit(t, B, 0, NOW + 2)
    assert t.drain(NOW + 2) == [(client_key(B), 0, ("192.0.2.1", 81))]


def test_drain_skips_a_client_whose_slot_went_to_another() -> None:
    """-c 1: B evicts A before the flush; A's entry would carry B's server."""
    t = plain(81, 82, clients_max=1)
    visit(t, A, 0, NOW)
    visit(t, B, 1, NOW)
    assert t.drain(NOW) == [(client_key(B), 0, ("192.0.2.1", 82))]


def test_a_received_entry_goes_to_the_local_slot_with_that_address_and_port() -> None:
    t = plain(82, 81)
    entry = Entry(client_key(A), 500, ("192.0.2.1", 81))
    assert t.apply([entry], NOW) == (1, 0, 0)
    client = t.state.clients.get(A)
    assert client is not None and client.server == 1 and client.last == NOW - 0.5
    assert client.connects == 0                        # a peer's entry is not a connect


def test_the_newest_entry_wins() -> None:
    t = plain(81, 82)
    visit(t, A, 0, NOW)
    older = Entry(client_key(A), 1000, ("192.0.2.1", 82))
    assert t.apply([older], NOW + 0.5) == (0, 1, 0)    # ours is newer: counted stale
    assert t.state.clients.get(A).server == 0
    newer = Entry(client_key(A), 100, ("192.0.2.1", 82))
    assert t.apply([newer], NOW + 0.5) == (1, 0, 0)
    assert t.state.clients.get(A).server == 1


@pytest.mark.parametrize("entry,counted", [
    (Entry(client_key(A), 61_000, ("192.0.2.1", 81)), "stale"),     # older than -T 60
    (Entry(client_key(UNIX_CLIENT), 0, ("192.0.2.1", 81)), "stale"),
    (Entry(client_key(A), 0, ("192.0.2.1", 99)), "unknown"),        # no such server here
    (Entry(client_key(A), 0, None), "unknown"),
])
def test_entries_not_taken_are_counted_why(entry: Entry, counted: str) -> None:
    t = plain(81, tracking=60)
    t.state.servers.ensure(1)                          # an unset slot names nothing
    applied, stale, unknown = t.apply([entry], NOW)
    assert (applied, stale, unknown) == ((0, 1, 0) if counted == "stale" else (0, 0, 1))
    assert len(t.state.clients) == 0


def test_a_renamed_server_is_known_by_its_new_address() -> None:
    t = plain(81, 82)
    t.state.servers.servers[1].set_address(socket.AF_INET, "192.0.2.5", 82, ("192.0.2.5", 82))
    assert t.apply([Entry(client_key(A), 0, ("192.0.2.1", 82))], NOW) == (0, 0, 1)
    assert t.apply([Entry(client_key(A), 0, ("192.0.2.5", 82))], NOW) == (1, 0, 0)


def test_the_configuration_peers_compare() -> None:
    """docs/peers.md "Drift": the servers in slot order, the selection settings and each
    server's weight/prio/max/hard."""
    st = state(81, 82, hash=True)
    st.servers.ensure(3)
    st.servers.servers[1].reset_limits(10, 20, 3, 1)
    cfg = config_of(st)
    assert cfg.servers == [("192.0.2.1", 81), ("192.0.2.1", 82), ("", 0), ("", 0)]
    assert set(cfg.settings) == {*DRIFT_SETTINGS, "server_limits"}
    assert cfg.settings["hash"] == "True" and cfg.settings["roundrobin"] == "False"
    assert cfg.settings["server_limits"] == "0/0/0/0,3/1/10/20,0/0/0/0,0/0/0/0"


def shared(clients_max: int = 64) -> tuple[SharedStore, SharedTable]:
    """A worker's store and the main process's peer table over one shared buffer."""
    buf = bytearray(layout_size(1, clients_max))
    tables = SharedTables(buf, 1, clients_max)
    tables.initialise()
    lock = threading.Lock()
    worker = SharedStore(state(81, 82, clients_max=clients_max), tables, 0, lock)
    main = SharedStore(state(81, 82, clients_max=clients_max), SharedTables(buf, 1, clients_max),
                       0, lock)
    return worker, SharedTable(main.state, main)


def test_the_shared_table_sends_what_any_worker_tracked() -> None:
    """--workers: the change ring, read by the main process (docs/peers.md)."""
    worker, table = shared()
    client = worker.track(A, NOW)
    client.server = 1
    worker.tracked(client)
    worker.track(B, NOW)                               # no server: not shared
    assert table.drain(NOW + 0.1) == [(client_key(A), 100, ("192.0.2.1", 82))]
    assert table.drain(NOW + 0.2) == []
    assert [row[0] for row in table.snapshot(NOW + 0.3)] == [client_key(A)]


def test_the_shared_table_takes_the_newest_entry_for_every_worker() -> None:
    worker, table = shared()
    client = worker.track(A, NOW)
    client.server = 0
    worker.tracked(client)
    older = Entry(client_key(A), 2000, ("192.0.2.1", 82))
    newer = Entry(client_key(B), 0, ("192.0.2.1", 82))
    assert table.apply([older, newer], NOW + 1) == (1, 1, 0)
    assert worker.track(A, NOW + 2).server == 0
    assert worker.track(B, NOW + 2).server == 1
