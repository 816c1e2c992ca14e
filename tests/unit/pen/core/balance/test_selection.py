"""Server selection and failover in C pen's precedence (docs/pen.md "How a server is chosen"; as tests/compat/pen/test_selection_vs_c.py observes)."""
from __future__ import annotations

import socket

import pytest

from pen.core.balance import selection
from pen.core.balance.selection import ClientAddr, choose, may_try, next_failover, record_choice, skip_reason
from pen.core.balance.servers import ABUSE, DROP, EMERGENCY, NO_SERVER, Server
from pen.core.balance.state import PenState
from support.balance import state

NOW = 1000.0


def make(n: int, **settings) -> PenState:
    return state(*range(10081, 10081 + n), host="127.0.0.1", **settings)


def special(index: int, port: int) -> Server:
    s = Server(index)
    s.set_address(socket.AF_INET, "127.0.0.1", port, ("127.0.0.1", port))
    return s


def pick(st: PenState, host: str = "127.0.0.1", port: int = 40000, now: float = NOW,
         dead: set[int] = frozenset()) -> int:
    """One connection: choose, then fail over through `dead` servers like the engine does."""
    client = st.clients.store(host, now, st.settings.tracking)
    who = ClientAddr(host, port)
    initial, idx = choose(st, client, who, now)
    if initial == DROP:
        return DROP
    while idx not in (NO_SERVER, DROP):
        if idx in dead:
            record_choice(st, client, idx)            # the connect started (EINPROGRESS) ...
            st.servers.get(idx).blacklisted_at = now          # ... and was refused: blacklist
            idx = next_failover(st, idx, initial, client, who, now)
            continue
        record_choice(st, client, idx)
        return idx
    return NO_SERVER


def test_roundrobin_first_pick_is_server_1() -> None:
    """A.1 B: -r over four servers gives 1 2 3 0 1 2 3 0."""
    st = make(4, roundrobin=True)
    assert [pick(st) for _ in range(8)] == [1, 2, 3, 0, 1, 2, 3, 0]


def test_tracking_keeps_the_client_on_its_server() -> None:
    """A.1 B2: default mode, one client -> always server 1."""
    st = make(4)
    assert [pick(st) for _ in range(4)] == [1, 1, 1, 1]


def test_roundrobin_with_a_dead_server_fails_over_like_c_pen_poll() -> None:
    """A.1 C (-r -P, server 1 dead): 10082 10082 10081 10082 10081 -> 2 2 0 2 0."""
    st = make(3, roundrobin=True)
    seq = [pick(st, dead={1}) for _ in range(5)]
    assert seq == [2, 2, 0, 2, 0]


def test_tracking_with_a_dead_server_fails_over_and_retracks() -> None:
    """As C pen with -P (docs/compatibility.md): [10081, dead, 10082] tracking -> 10082 every time (server 2)."""
    st = make(3)
    assert [pick(st, dead={1}) for _ in range(4)] == [2, 2, 2, 2]


def test_hash_matches_c_pen() -> None:
    """A.5 D4: three servers; .1->2 .2->0 .3->1 .4->2 .5->0 .6->1; 127.1.0.1->0; 127.2.0.1->1."""
    st = make(3, hash=True, roundrobin=True)     # -r so the table does not pin the client
    st.settings.roundrobin = False
    hosts = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6",
             "127.1.0.1", "127.2.0.1"]
    assert [pick(st, h) for h in hosts] == [2, 0, 1, 2, 0, 1, 0, 1]
    st4 = make(4, hash=True)
    assert pick(st4, "127.0.0.1") == 3           # A.1 D2


def test_hash_with_port_uses_the_ports_high_byte() -> None:
    """pen(1) -h with -r XORs the port in network byte order; consecutive ports -> same server."""
    st = make(4, hash=True, roundrobin=True)
    got = {pick(st, "127.0.0.1", port) for port in range(40000, 40010)}
    assert len(got) == 1
    value = 0x0100007F ^ (((40000 & 0xFF) << 8) | (40000 >> 8))
    assert got == {value % 4}


def test_hash_ipv6_uses_last_byte() -> None:
    st = make(3, hash=True)
    assert pick(st, "2001:db8::5") == 5 % 3


def test_weight_distributes_concurrent_connections() -> None:
    """A.2 E3/E4: weights 1 and 3, eight held connections -> 2 and 6."""
    st = make(2, weight=True, roundrobin=True)
    st.servers.get(0).weight, st.servers.get(1).weight = 1, 3
    for _ in range(8):
        idx = pick(st)
        st.servers.get(idx).c += 1
    assert (st.servers.get(0).c, st.servers.get(1).c) == (2, 6)


def test_weight_sequential_goes_to_lowest_index() -> None:
    st = make(2, weight=True, roundrobin=True)
    st.servers.get(0).weight, st.servers.get(1).weight = 1, 3
    assert [pick(st) for _ in range(4)] == [0, 0, 0, 0]


def test_weight_without_any_weights_is_least_connections() -> None:
    """C pen refused every client here (A.1 E2: FAIL FAIL FAIL); we balance instead."""
    st = make(2, weight=True, roundrobin=True)
    st.servers.get(0).c = 3
    assert pick(st) == 1


def test_weight_zero_excluded_when_others_have_weights() -> None:
    st = make(3, weight=True, roundrobin=True)
    st.servers.get(1).weight = 2
    assert [pick(st) for _ in range(3)] == [1, 1, 1]


def test_prio_lowest_number_wins_and_falls_back() -> None:
    """A.1 F: prio 5 and 1 -> always the prio-1 server; blacklisted -> the next."""
    st = make(2, prio=True, roundrobin=True)
    st.servers.get(0).prio, st.servers.get(1).prio = 5, 1
    assert [pick(st) for _ in range(3)] == [1, 1, 1]
    st.servers.get(1).blacklisted_at = NOW
    assert pick(st) == 0


def test_precedence_prio_over_weight_over_hash_over_rr() -> None:
    st = make(3, prio=True, weight=True, hash=True, roundrobin=True)
    st.servers.get(2).prio = 0
    for i in (0, 1):
        st.servers.get(i).prio = 9
    st.servers.get(0).weight = 1
    assert pick(st) == 2
    st.settings.prio = False
    assert pick(st) == 0        # weight: only server 0 has a weight
    st.settings.weight = False
    assert pick(st, "127.0.0.2") == selection.by_hash(st, ClientAddr("127.0.0.2", 40000))


def test_stubborn_never_fails_over() -> None:
    """A.1 G: -s, tracking, server 1 dead -> FAIL FAIL FAIL FAIL."""
    st = make(2, stubborn=True)
    assert [pick(st, dead={1}) for _ in range(4)] == [NO_SERVER] * 4


def test_stubborn_roundrobin_only_first_fails() -> None:
    """A.1 G2: -s -r, server 1 dead -> FAIL 0 0 0."""
    st = make(2, stubborn=True, roundrobin=True)
    assert [pick(st, dead={1}) for _ in range(4)] == [NO_SERVER, 0, 0, 0]


def test_emergency_after_all_servers_fail() -> None:
    """A.1 I/I3: only dead servers and -e -> the emergency server every time."""
    st = make(2)
    st.servers.emergency = special(EMERGENCY, 10083)
    assert [pick(st, dead={0, 1}) for _ in range(3)] == [EMERGENCY] * 3
    client = st.clients.get("127.0.0.1")
    assert client.server == NO_SERVER            # tracked to emergency == untracked


def test_all_down_without_emergency_drops() -> None:
    st = make(2)
    assert pick(st, dead={0, 1}) == NO_SERVER


def test_no_failover_from_emergency() -> None:
    st = make(1)
    st.servers.emergency = special(EMERGENCY, 10083)
    client = st.clients.store("h", NOW, 0)
    who = ClientAddr("h", 1)
    assert next_failover(st, EMERGENCY, 0, client, who, NOW) == NO_SERVER


def test_abuse_server_for_denied_clients() -> None:
    """A.3 J: acl 1 deny 127.0.0.1, client_acl 1, -B -> the abuse server; no -B -> dropped."""
    st = make(2, roundrobin=True, client_acl=1)
    st.acls.add(1, ["deny", "127.0.0.1"])
    assert pick(st) == DROP
    st.servers.abuse = special(ABUSE, 10084)
    assert [pick(st) for _ in range(3)] == [ABUSE] * 3
    assert pick(st, "127.0.0.2") in (0, 1)


def test_server_acl_denies_and_fails_over() -> None:
    """A.3: server 0 acl 1 (denies us) -> always server 1; both denied -> FAIL even with -B."""
    st = make(2, roundrobin=True)
    st.acls.add(1, ["deny", "127.0.0.1"])
    st.servers.get(0).acl = 1
    assert [pick(st) for _ in range(4)] == [1, 1, 1, 1]
    st.servers.get(1).acl = 1
    st.servers.abuse = special(ABUSE, 10084)
    assert pick(st) == NO_SERVER


def test_soft_and_hard_limits_with_sticky_client() -> None:
    """A.2 H: [10082, 10081 max 1 hard 2], tracking, one client holding connections."""
    st = make(2)
    srv1 = st.servers.get(1)
    srv1.maxc, srv1.hard = 1, 2
    assert pick(st) == 1
    srv1.c = 1
    assert pick(st) == 1                # sticky: allowed up to hard
    srv1.c = 2
    assert pick(st) == 0                # over hard: fail over, and re-tracked
    srv1.c = 0
    assert pick(st) == 0


def test_soft_limit_new_client_vs_known_client() -> None:
    """A.5 H3: prio; [prio 5, max 1 hard 3 prio 0]: new client -> other, known -> admitted."""
    st = make(2, prio=True)
    st.servers.get(0).prio = 5
    s1 = st.servers.get(1)
    s1.maxc, s1.hard = 1, 3
    assert pick(st, "127.0.0.2") == 1
    s1.c = 1
    assert pick(st, "127.0.0.3") == 0
    assert pick(st, "127.0.0.2") == 1


def test_pending_connects_count_against_limits() -> None:
    st = make(2, roundrobin=True)
    s1 = st.servers.get(1)
    s1.maxc, s1.pending = 1, 1
    assert pick(st) == 0


def test_hard_not_above_soft_caps_sticky_at_soft() -> None:
    st = make(2)
    s1 = st.servers.get(1)
    s1.maxc = 2
    assert pick(st) == 1
    s1.c = 2
    assert pick(st) == 0


def test_blacklist_expiry_is_time_based() -> None:
    st = make(2, roundrobin=True, blacklist=30)
    st.servers.get(1).blacklisted_at = NOW
    assert pick(st, now=NOW + 1) == 0
    assert pick(st, now=NOW + 29) == 0
    assert pick(st, now=NOW + 30) == 1


def test_blacklist_time_applies_retroactively() -> None:
    st = make(2, roundrobin=True, blacklist=30)
    st.servers.get(1).blacklisted_at = NOW
    st.settings.blacklist = 5
    assert pick(st, now=NOW + 6) == 1


def test_removed_server_skipped_including_server_0() -> None:
    """0.0.0.0 port 0 removes a server; C pen forgot server 0 (docs/compatibility.md)."""
    st = make(3, roundrobin=True)
    st.servers.get(0).set_address(socket.AF_INET, "0.0.0.0", 0, ("0.0.0.0", 0))
    assert {pick(st) for _ in range(6)} == {1, 2}


def test_unset_slot_is_never_chosen() -> None:
    st = make(1, roundrobin=True)
    st.servers.ensure(2).set_address(socket.AF_INET, "127.0.0.1", 1, ("127.0.0.1", 1))
    assert {pick(st) for _ in range(6)} == {0, 2}


def test_drain_sticky_admits_only_its_tracked_clients() -> None:
    st = make(2)
    assert pick(st, "127.0.0.2") == 1
    st.servers.get(1).drain = st.servers.get(1).drain_sticky = True
    assert pick(st, "127.0.0.3") == 0
    assert pick(st, "127.0.0.2") == 1


def test_strict_drain_moves_even_tracked_clients() -> None:
    st = make(2)
    assert pick(st, "127.0.0.2") == 1
    st.servers.get(1).drain = True
    assert pick(st, "127.0.0.2") == 0
    assert st.clients.get("127.0.0.2").server == 0        # re-tracked to where it went


def test_failover_scan_order_starts_after_current() -> None:
    st = make(4)
    client = st.clients.store("h", NOW, 0)
    who = ClientAddr("h", 1)
    st.servers.get(2).blacklisted_at = NOW
    assert next_failover(st, 1, 1, client, who, NOW) == 3
    st.servers.get(3).blacklisted_at = NOW
    assert next_failover(st, 1, 1, client, who, NOW) == 0


def test_single_server_has_no_scan() -> None:
    st = make(1)
    client = st.clients.store("h", NOW, 0)
    st.servers.get(0).blacklisted_at = NOW
    assert next_failover(st, 0, 0, client, ClientAddr("h", 1), NOW) == NO_SERVER


@pytest.mark.parametrize("reason,setup", [
    ("no address", lambda s: s.set_address(0, "", 0, None)),
    ("blacklisted", lambda s: setattr(s, "blacklisted_at", NOW)),
    ("overloaded", lambda s: (setattr(s, "maxc", 1), setattr(s, "c", 1))),
])
def test_skip_reasons(reason: str, setup) -> None:
    st = make(2)
    setup(st.servers.get(0))
    client = st.clients.store("h", NOW, 0)
    why = skip_reason(st, 0, client, ClientAddr("h", 1), NOW)
    assert why is not None and why.startswith(reason)
    assert not may_try(st, 0, client, ClientAddr("h", 1), NOW)
    assert skip_reason(st, 1, client, ClientAddr("h", 1), NOW) is None
    assert may_try(st, 1, client, ClientAddr("h", 1), NOW)
