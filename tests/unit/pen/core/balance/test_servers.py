"""pen.core.balance.servers: a server's state, its blacklisting, and the table with its two
hidden slots (pen(1) -b, -e, -B; docs/pen.md "How a server is chosen")."""
from __future__ import annotations

import socket

import pytest

from pen.core.balance.servers import (ABUSE, EMERGENCY, MAX_SERVERS, NEVER, NO_SERVER, Server,
                                      ServerTable, family_of)
from pen.core.health import HealthState

NOW = 1000.0


def addressed(index: int = 0, host: str = "192.0.2.1", port: int = 80) -> Server:
    srv = Server(index)
    srv.set_address(socket.AF_INET, host, port, (host, port))
    return srv


def test_manual_blacklist_semantics() -> None:
    """`server N blacklist T` sets status = now + T - blacklist: exactly T seconds."""
    s1 = addressed(1)
    s1.blacklisted_at = NOW + 60 - 30
    assert s1.blacklisted(NOW + 59, 30) and not s1.blacklisted(NOW + 60, 30)
    s1.blacklisted_at = NOW + 0 - 30
    assert not s1.blacklisted(NOW, 30)


def test_a_changed_blacklist_time_applies_to_a_blacklisting_already_running() -> None:
    """C pen keeps the time of the failure, not its end, so -b applies retroactively."""
    srv = addressed()
    srv.blacklisted_at = NOW
    assert srv.blacklisted(NOW + 6, 30) and not srv.blacklisted(NOW + 6, 5)
    assert srv.blacklist_left(NOW + 6, 30) == 24 and srv.blacklist_left(NOW + 6, 5) == 0


def test_a_server_that_never_failed_is_not_blacklisted_whatever_the_time() -> None:
    srv = addressed()
    assert srv.blacklisted_at == NEVER
    assert not srv.blacklisted(0.0, 10**9) and srv.blacklist_left(0.0, 10**9) == 0


@pytest.mark.parametrize("host,port", [("0.0.0.0", 80), ("::", 80), ("192.0.2.1", 0)])
def test_the_removed_idiom_leaves_no_address_for_server_0_too(host: str, port: int) -> None:
    """penctl(1) `server N address 0.0.0.0`; C pen forgot server 0 (docs/compatibility.md)."""
    srv = addressed(0, host, port)
    assert srv.configured and not srv.has_address()
    assert srv.state_word(NOW, 30) == "unused"


def test_an_unset_slot_is_unused_and_named_as_c_names_it() -> None:
    """penctl(1) `servers` prints C's text for a slot that never had an address."""
    srv = Server(3)
    assert not srv.configured and not srv.has_address()
    assert srv.state_word(NOW, 30) == "unused"
    assert srv.address_text() == "(unknown address family 0"
    assert addressed(host="192.0.2.7").address_text() == "192.0.2.7"


def test_state_words_first_match_wins() -> None:
    """The order `server_state`, webstats and `serving` rely on: down, blacklisted, draining,
    full, up."""
    srv = addressed()
    assert srv.state_word(NOW, 30) == "up"
    srv.maxc, srv.c = 1, 1
    assert srv.state_word(NOW, 30) == "full"
    srv.drain = True
    assert srv.state_word(NOW, 30) == "draining"
    srv.blacklisted_at = NOW
    assert srv.state_word(NOW, 30) == "blacklisted"
    srv.health = HealthState(up=False)
    assert srv.down() and srv.state_word(NOW, 30) == "down"


def test_connects_in_progress_count_against_max() -> None:
    """C pen counted only established connections, so bursts overshot max (pen(1) SYNOPSIS;
    docs/compatibility.md)."""
    srv = addressed()
    srv.maxc, srv.pending = 2, 2
    assert srv.load() == 2 and srv.state_word(NOW, 30) == "full"


def test_no_max_is_never_full() -> None:
    srv = addressed()
    srv.c = 10**6
    assert srv.state_word(NOW, 30) == "up"


def test_an_agents_percentage_scales_the_weight() -> None:
    srv = addressed()
    srv.weight = 7
    assert srv.effective_weight() == 7
    srv.agent_weight = 50
    assert srv.effective_weight() == 3          # whole numbers, rounded down
    srv.agent_weight = 0
    assert srv.effective_weight() == 0


def test_ensure_creates_every_missing_slot_below() -> None:
    table = ServerTable()
    srv = table.ensure(3)
    assert len(table) == 4 and srv.index == 3
    assert [s.index for s in table.servers] == [0, 1, 2, 3]
    assert table.ensure(1) is table.servers[1] and len(table) == 4


@pytest.mark.parametrize("index", [-1, MAX_SERVERS])
def test_ensure_refuses_a_slot_out_of_range(index: int) -> None:
    """`server N` beyond 4095 is refused (C pen allocated gigabytes: docs/penctl.md)."""
    with pytest.raises(IndexError):
        ServerTable().ensure(index)
    assert ServerTable().ensure(MAX_SERVERS - 1).index == MAX_SERVERS - 1


def test_get_reaches_the_hidden_slots_and_nothing_else() -> None:
    table = ServerTable()
    table.ensure(0)
    assert table.get(EMERGENCY) is None and table.get(ABUSE) is None
    table.emergency, table.abuse = Server(EMERGENCY), Server(ABUSE)
    assert table.get(EMERGENCY) is table.emergency and table.get(ABUSE) is table.abuse
    assert table.get(0) is table.servers[0]
    assert table.get(1) is None and table.get(NO_SERVER) is None


@pytest.mark.parametrize("sockaddr,family", [
    (("192.0.2.1", 80), socket.AF_INET),
    (("2001:db8::1", 80, 0, 0), socket.AF_INET6),
    ("/run/app.sock", socket.AF_UNIX),
])
def test_family_of_a_sockaddr(sockaddr: tuple | str, family: int) -> None:
    assert family_of(sockaddr) == family
