"""pen-ha's additions: consistent hashing and least connections."""
from __future__ import annotations

import socket

from pen.core.balance.selection import ClientAddr, by_consistent_hash, by_leastconn
from pen.core.balance.state import PenState
from pen.settings import Settings


def make(n: int, **kw) -> PenState:
    st = PenState(Settings(hash=True, hash_method="consistent", **kw))
    for i in range(n):
        st.servers.ensure(i).set_address(socket.AF_INET, f"198.51.100.{i + 1}", 80,
                                         (f"198.51.100.{i + 1}", 80))
    return st


def assignment(st: PenState, clients: list[str]) -> dict[str, str]:
    return {c: st.servers.get(by_consistent_hash(st, ClientAddr(c, 1), 0)).host for c in clients}


CLIENTS = [f"10.{i // 250}.{i % 250}.1" for i in range(5000)]


def test_removing_one_of_n_moves_about_one_nth() -> None:
    st = make(5)
    before = assignment(st, CLIENTS)
    st.servers.get(2).set_address(socket.AF_INET, "0.0.0.0", 0, ("0.0.0.0", 0))   # removed
    after = assignment(st, CLIENTS)
    moved = sum(before[c] != after[c] for c in CLIENTS) / len(CLIENTS)
    print(f"removing 1 of 5 servers moved {moved:.3f} of clients (ideal 0.200)")
    assert 0.15 < moved < 0.25
    assert all(before[c] == after[c] for c in CLIENTS if before[c] != "198.51.100.3")


def test_adding_one_moves_about_one_over_n_plus_one() -> None:
    st = make(4)
    before = assignment(st, CLIENTS)
    st.servers.ensure(4).set_address(socket.AF_INET, "198.51.100.5", 80, ("198.51.100.5", 80))
    after = assignment(st, CLIENTS)
    moved = [c for c in CLIENTS if before[c] != after[c]]
    print(f"adding a 5th server moved {len(moved) / len(CLIENTS):.3f} of clients (ideal 0.200)")
    assert 0.15 < len(moved) / len(CLIENTS) < 0.25
    assert all(after[c] == "198.51.100.5" for c in moved)


def test_independent_of_server_order_so_nodes_agree() -> None:
    a = make(4)
    b = PenState(Settings(hash=True, hash_method="consistent"))
    for i, j in enumerate([3, 1, 0, 2]):
        b.servers.ensure(i).set_address(socket.AF_INET, f"198.51.100.{j + 1}", 80,
                                        (f"198.51.100.{j + 1}", 80))
    assert assignment(a, CLIENTS[:500]) == assignment(b, CLIENTS[:500])


def test_weights_bias_the_share() -> None:
    st = make(2)
    st.servers.get(1).weight = 3
    counts = list(assignment(st, CLIENTS).values()).count("198.51.100.2") / len(CLIENTS)
    assert 0.70 < counts < 0.80


def test_leastconn_picks_fewest_and_rotates_ties() -> None:
    st = make(3)
    st.settings.leastconn = True
    st.servers.get(0).c = 5
    picks = [by_leastconn(st, 0) for _ in range(4)]
    assert picks == [1, 2, 1, 2]
    st.servers.get(2).pending = 1
    assert by_leastconn(st, 0) == 1


def test_consistent_failover_goes_to_the_runner_up_like_every_other_node() -> None:
    """A tracked client whose server is down fails over to the rendezvous runner-up, which is
    exactly what a node that never saw the client picks (issue 12)."""
    from pen.core.balance.selection import choose, next_failover, record_choice

    def connect(st: PenState, host: str, now: float) -> int:
        client = st.clients.store(host, now, 0)
        who = ClientAddr(host, 1)
        initial, idx = choose(st, client, who, now)
        while idx >= 0 and st.servers.get(idx).blacklisted(now, st.settings.blacklist):
            idx = next_failover(st, idx, initial, client, who, now)
        record_choice(st, client, idx)
        return idx

    node_a, node_b = make(5), make(5)
    clients = CLIENTS[:300]
    first = {c: connect(node_a, c, 1.0) for c in clients}        # node A tracks every client
    node_a.servers.get(2).blacklisted_at = node_b.servers.get(2).blacklisted_at = 2.0   # server 2 fails
    after_a = {c: connect(node_a, c, 3.0) for c in clients}
    after_b = {c: connect(node_b, c, 3.0) for c in clients}      # node B never saw them
    assert after_a == after_b
    assert all(after_a[c] == first[c] for c in clients if first[c] != 2)
    assert any(first[c] == 2 for c in clients)
