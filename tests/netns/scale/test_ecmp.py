"""ECMP / anycast with bird2 over three pen nodes (issue 12, done-criterion 2).

Every node has 203.0.113.200/32 on lo and announces it over eBGP (bird2) while its pen answers
(deploy/scale/pen-bgp-health drives `birdc enable|disable anycast`).  The router's bird2 merges
the routes into one Linux multipath route (`merge paths`), hashed on L4
(fib_multipath_hash_policy=1), so the clients' flows spread over the nodes.

When a node's pen dies, the hook withdraws the route (BGP UPDATE, the session stays up); the
router keeps a next hop per healthy node, new connections go to the others, and the
established connections through the surviving nodes carry on.  Linux multipath is
hash-threshold (RFC 2992): removing next hop 2 of 3 (the middle one; bird orders next hops by
address) leaves the other two ranges where they were, which is what this test does; removing
an end one would move part of a neighbour's range (docs/scale-out.md, "Established
connections").
"""
from __future__ import annotations

import time
from collections import Counter

import pytest

import scaleconf as conf
from scaleclient import Flow, fetch
from scalelab import CLIENT_ADDRS, wait_for

pytestmark = [pytest.mark.root, pytest.mark.netns, pytest.mark.slow]

NODES = 3
CONNS = 300
FLOWS = 60


def spread(lab, count: int) -> Counter[int]:
    """`count` new connections to the anycast address from the 100 client addresses."""
    nodes: Counter[int] = Counter()
    for n in range(count):
        r = fetch(lab.client_ns, conf.ANYCAST, src=CLIENT_ADDRS[n % len(CLIENT_ADDRS)], timeout=1.0)
        nodes[r.node if r else 0] += 1
    return nodes


def fmt(c: Counter[int]) -> str:
    return ", ".join(f"{'FAILED' if n == 0 else f'node{n}'} {c[n]}" for n in sorted(c))


def test_ecmp_spreads_withdraws_and_keeps_established(scale_lab) -> None:
    lab = scale_lab("ecmp", NODES)
    hops = lab.ecmp_nexthops()
    assert hops == [conf.node_addr(i) for i in range(1, NODES + 1)], hops
    before = spread(lab, CONNS)
    flows = [Flow(lab.client_ns, conf.ANYCAST, src=CLIENT_ADDRS[n % len(CLIENT_ADDRS)])
             for n in range(FLOWS)]
    try:
        by_node = Counter(f.first.node for f in flows)
        assert all(f.ping() for f in flows), "a fresh flow did not answer"
        t_kill = time.monotonic()
        lab.kill_pen(2)
        wait_for(lambda: lab.ecmp_nexthops() == [conf.node_addr(1), conf.node_addr(3)], 10,
                 "the router to drop node2's route")
        withdrawn = time.monotonic() - t_kill
        survivors = [f for f in flows if f.first.node != 2]
        survived = sum(f.ping() for f in survivors)
        on_dead = [f for f in flows if f.first.node == 2]
        dead_ok = sum(f.ping() for f in on_dead)
        after = spread(lab, CONNS)
        t_back = time.monotonic()
        lab.start(2, wait=False)           # pen back: the hook announces again
        wait_for(lambda: len(lab.ecmp_nexthops()) == NODES, 10, "node2's route back")
        back = time.monotonic() - t_back
        survived_back = sum(f.ping() for f in survivors)
        again = spread(lab, CONNS)
    finally:
        for f in flows:
            f.close()
    print(f"\nECMP, {NODES} nodes, bird2 eBGP (hold 3 s, keepalive 1 s), L4 multipath hash:")
    print(f"  router: {hops[0]}..{hops[-1]}: one route per healthy node, {len(hops)} next hops")
    print(f"  {CONNS} new connections, all healthy:  {fmt(before)}")
    print(f"  {FLOWS} established flows:              {fmt(by_node)}")
    print(f"  node2's pen killed: route withdrawn after {withdrawn:.3f} s (probe 0.2 s, fall 2)")
    print(f"  established flows via node1/node3 still working: {survived} of {len(survivors)}; "
          f"via node2 (its pen died): {dead_ok} of {len(on_dead)} working")
    print(f"  {CONNS} new connections, node2 withdrawn: {fmt(after)}")
    print(f"  node2's pen restarted: route announced again after {back:.3f} s (pen start-up, "
          f"rise 3); established flows via node1/node3 still working: {survived_back} of "
          f"{len(survivors)}")
    print(f"  {CONNS} new connections, all healthy again: {fmt(again)}")
    for c in (before, again):
        assert 0 not in c, f"connections failed: {fmt(c)}"
        assert all(c[i] >= CONNS // NODES // 3 for i in range(1, NODES + 1)), f"not spread: {fmt(c)}"
    assert all(by_node[i] > 0 for i in range(1, NODES + 1)), f"flows not spread: {fmt(by_node)}"
    assert withdrawn < 2.0, f"withdrawal took {withdrawn:.3f} s"
    assert survived == len(survivors), f"{len(survivors) - survived} established flows broke"
    assert survived_back == len(survivors), \
        f"{len(survivors) - survived_back} established flows broke when node2 came back"
    assert dead_ok == 0, "flows through a dead pen cannot work"
    assert 0 not in after and after[2] == 0, f"after the withdrawal: {fmt(after)}"
    assert after[1] > 0 and after[3] > 0, f"node2's share did not move to both others: {fmt(after)}"
