"""pen.core.peers.status: what `peers`, `peers_json`, the status page and /metrics show of
the peers (docs/peers.md "Status")."""
from __future__ import annotations

from pen.core.balance.store import PlainStore
from pen.core.peers.codec import Config
from pen.core.peers.drift import digest
from pen.core.peers.status import status
from pen.core.peers.sync import Counters, Dial, Link, PeerSync, Totals
from pen.core.peers.tables import PlainTable, config_of
from support.balance import state

NOW = 1000.0
KEY = b"k" * 16


def node() -> PeerSync:
    st = state(81, 82)
    return PeerSync(PlainTable(st, PlainStore(st)), KEY, "a")


def link(outgoing: bool, up: bool = True, **counts: float) -> Link:
    """A link with the peer's HELLO received (up), counting `counts`."""
    ln = Link(KEY, b"A" * 16, "a", outgoing, NOW)
    if up:
        ln.their_nonce = b"B" * 16
    ln.counters = Counters(**counts)  # type: ignore[arg-type]
    return ln


def test_a_peers_row_joins_what_it_sends_and_what_it_receives() -> None:
    """One row per --peer: its outgoing link and the links accepted from its address."""
    sync = node()
    dial = Dial("10.0.0.2:7070", ip="10.0.0.2")
    dial.link = link(True, sent=5, last_sent=NOW - 0.25)
    incoming = {link(False, received=7, applied=6, stale=1, last_received=NOW - 2): "10.0.0.2:41000"}
    data = status(sync, [dial], incoming, "10.0.0.1:7070", True, 2, NOW)
    assert (data["listen"], data["key"], data["entries"], data["running"]) == \
        ("10.0.0.1:7070", True, 2, True)
    [row] = data["peers"]
    assert (row["peer"], row["connected"], row["incoming"]) == ("10.0.0.2:7070", True, True)
    assert (row["sent"], row["received"], row["taken"], row["stale"]) == (5, 7, 6, 1)
    assert (row["last_sent_age"], row["last_received_age"]) == (0.25, 2.0)


def test_a_peer_named_by_host_name_is_matched_by_the_address_it_resolved_to() -> None:
    sync = node()
    dial = Dial("peer-b.example:7070", ip="10.0.0.2")
    incoming = {link(False, received=3): "10.0.0.2:41000"}
    [row] = status(sync, [dial], incoming, None, False, 0, NOW)["peers"]
    assert (row["connected"], row["incoming"], row["received"]) == (False, True, 3)


def test_closed_links_counts_stay_in_their_peers_row() -> None:
    sync = node()
    sync.totals["10.0.0.2:7070"] = Totals(Counters(sent=10, auth=1))
    sync.totals["in:10.0.0.2"] = Totals(Counters(received=4, malformed=2, replay=3))
    dial = Dial("10.0.0.2:7070", ip="10.0.0.2", last_error="connection refused")
    [row] = status(sync, [dial], {}, None, False, 0, NOW)["peers"]
    assert (row["sent"], row["received"], row["bad"]) == (10, 4, 6)
    assert (row["auth_failed"], row["malformed"], row["replayed"]) == (1, 2, 3)
    assert (row["connected"], row["incoming"]) == (False, False)
    assert row["error"] == "connection refused"


def test_a_connection_from_an_address_nobody_listed_gets_a_row_of_its_own() -> None:
    """An [IPv6]:port remote is named by its address without brackets or port."""
    sync = node()
    sync.totals["in:10.0.0.9"] = Totals(Counters(received=1))
    incoming = {link(False, received=2): "[2001:db8::3]:41000"}
    rows = status(sync, [], incoming, None, False, 0, NOW)["peers"]
    assert [(r["peer"], r["incoming"], r["received"]) for r in rows] == [
        ("2001:db8::3 (incoming)", True, 2), ("10.0.0.9 (incoming)", False, 1)]


def test_nothing_sent_yet_has_no_age_and_no_drift_until_the_peer_sent_its_configuration() -> None:
    sync = node()
    dial = Dial("10.0.0.2:7070", ip="10.0.0.2")
    dial.link = link(True)
    [row] = status(sync, [dial], {}, None, False, 0, NOW)["peers"]
    assert (row["last_sent_age"], row["last_received_age"]) == (None, None)
    assert (row["drift"], row["their_digest"]) == (None, None)


def test_drift_compares_the_peers_configuration_with_ours() -> None:
    sync = node()
    here = config_of(sync.table.state)
    dial = Dial("10.0.0.2:7070", ip="10.0.0.2")
    dial.link = link(True)
    dial.link.their_config = here
    data = status(sync, [dial], {}, None, False, 0, NOW)
    assert data["digest"] == digest(here) == data["peers"][0]["their_digest"]
    assert data["peers"][0]["drift"] == []
    there = Config(here.servers[::-1], here.settings)
    dial.link.their_config = there
    row = status(sync, [dial], {}, None, False, 0, NOW)["peers"][0]
    assert row["their_digest"] == digest(there) != data["digest"]
    assert any(line.startswith("server slots differ") for line in row["drift"])
