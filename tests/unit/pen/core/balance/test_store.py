"""pen.core.balance.store: one process's store writes every change through to the Server and
Client objects selection reads (docs/architecture.md "The dispatcher"); the workers' shared
store is tests/unit/pen/core/balance/test_shared.py's."""
from __future__ import annotations

from pen.core.balance.servers import NEVER
from pen.core.balance.store import PlainStore
from support.balance import state

NOW = 1000.0


def store(**settings: object) -> PlainStore:
    return PlainStore(state(80, **settings))


def test_counts_land_on_the_server_object_at_once() -> None:
    s = store()
    srv = s.state.servers.servers[0]
    s.connecting(srv, +1)
    assert (srv.pending, srv.c, srv.total, srv.load()) == (1, 0, 0, 1)
    s.connecting(srv, -1)
    s.opened(srv)
    assert (srv.pending, srv.c, srv.total, srv.load()) == (0, 1, 1, 1)
    s.closed(srv)
    assert (srv.c, srv.total) == (0, 1)         # total counts connections ever established


def test_a_failure_is_counted_and_blacklists_for_b_seconds_from_now() -> None:
    """pen(1) -b: a failed server is left alone for the blacklist time."""
    s = store(blacklist=30)
    srv = s.state.servers.servers[0]
    s.blacklist(srv, NOW)
    assert srv.failures == 1 and srv.state_word(NOW + 29, 30) == "blacklisted"
    assert srv.state_word(NOW + 30, 30) == "up"
    s.blacklist(srv, NOW + 40)
    s.unblacklist(srv)                         # its health check passed
    assert srv.failures == 2 and srv.blacklisted_at == NEVER
    assert srv.state_word(NOW + 40, 30) == "up"


def test_admission_limits_are_this_processs_own_counts() -> None:
    """pen(1) -x: at the limit, not only beyond it."""
    s = store(conn_max=3, pending_max=2)
    assert not s.at_conn_max(2) and s.at_conn_max(3)
    assert not s.at_pending_max(1) and s.at_pending_max(2)


def test_track_uses_the_client_table_with_the_tracking_time() -> None:
    """pen(1) -T: a client away longer than the tracking time is a new client."""
    s = store(tracking=5)
    client = s.track("198.51.100.1", NOW)
    client.server = 0
    assert s.track("198.51.100.1", NOW + 5) is client and client.server == 0
    assert client.connects == 2
    assert s.track("198.51.100.1", NOW + 11).connects == 1
    assert s.state.clients.get("198.51.100.1") is client


def test_tracked_clients_are_collected_for_the_peers_only_when_they_listen() -> None:
    """docs/peers.md "What is shared": a tracked connection costs one dictionary store."""
    s = store()
    client = s.track("198.51.100.1", NOW)
    s.tracked(client)
    assert s.feed is None
    s.feed = {}
    s.tracked(client)
    assert s.feed == {"198.51.100.1": client}


def test_deciding_holds_no_lock_and_may_be_entered_again() -> None:
    s = store()
    with s.deciding():
        with s.deciding():
            pass
