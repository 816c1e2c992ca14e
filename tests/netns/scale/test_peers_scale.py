"""The scale-out lab's nodes share their client tables (issue 17, docs/scale-out.md): with pen
peers and plain client tracking (no consistent hashing), a client keeps its backend whichever
node serves it.  Active-active VRRP, three nodes, three VIPs: each of 20 client addresses
connects to VIP1 (node1), then VIP2 (node2), then VIP3 (node3); every client must get the same
backend from all three.  Without peers (the same lab, `peers=False` with tracking forced by
`no hash` on every node) each node chooses for itself: the check that the test can fail.
"""
from __future__ import annotations

import random
import time

import pytest

import scaleconf as conf
from scaleclient import fetch
from scalelab import CLIENT_ADDRS, run, wait_for

pytestmark = [pytest.mark.root, pytest.mark.netns, pytest.mark.slow]

NODES = 3
CLIENTS = CLIENT_ADDRS[:20]


def penctl(lab, i: int, line: str) -> str:
    return run("ip", "netns", "exec", lab.node_ns(i), str(lab.bin / "penctl"), conf.CONTROL,
               *line.split()).stdout


def one_backend_each(lab) -> tuple[int, dict[str, list[str]]]:
    seen: dict[str, list[str]] = {}
    for k in range(1, NODES + 1):
        # each node sees the clients in its own order (DNS round robin: each its own moment)
        for src in random.Random(k).sample(CLIENTS, len(CLIENTS)) if k > 1 else CLIENTS:
            r = fetch(lab.client_ns, conf.vip(k), src=src, timeout=2.0)
            assert r is not None and r.node == k, f"VIP{k} from {src}: {r}"
            seen.setdefault(src, []).append(r.backend)
        time.sleep(0.3)          # the peers' batch (100 ms) reaches the next node
    return sum(1 for b in seen.values() if len(set(b)) == 1), seen


@pytest.mark.parametrize("peers", [True, False], ids=["peers", "no-peers"])
def test_a_client_keeps_its_backend_on_every_node(scale_lab, peers: bool) -> None:
    lab = scale_lab("vrrp", NODES, peers=peers)
    for k in range(1, NODES + 1):
        wait_for(lambda k=k: fetch(lab.client_ns, conf.vip(k)), 5, f"VIP{k} to answer")
    for i in range(1, NODES + 1):
        if not peers:
            penctl(lab, i, "no hash")               # tracking, each node on its own
        assert penctl(lab, i, "mode").startswith("no hash"), penctl(lab, i, "mode")
    if peers:
        for i in range(1, NODES + 1):
            wait_for(lambda i=i: penctl(lab, i, "peers").count("connected yes incoming yes")
                     == NODES - 1, 15, f"node{i}'s peers connected")
    kept, seen = one_backend_each(lab)
    spread = sorted({b[0] for b in seen.values()})
    print(f"\nFIGURES {'with' if peers else 'without'} peers: {kept} of {len(CLIENTS)} clients "
          f"got one backend from all {NODES} nodes (first choices on {spread})")
    if peers:
        assert kept == len(CLIENTS), seen
        for i in range(1, NODES + 1):
            text = penctl(lab, i, "peers")
            assert " bad 0 drift 0" in text, text
    else:
        assert kept < len(CLIENTS), seen


@pytest.mark.parametrize("peers", [True, False], ids=["peers", "no-peers"])
def test_ecmp_a_client_keeps_its_backend_whichever_node_the_router_picks(scale_lab,
                                                                        peers: bool) -> None:
    """ECMP: the router hashes each connection (by its ports too) to a node; 4 rounds of one
    connection per client address through the anycast address, 0.3 s apart."""
    lab = scale_lab("ecmp", NODES, peers=peers)
    for i in range(1, NODES + 1):
        if not peers:
            penctl(lab, i, "no hash")
        assert penctl(lab, i, "mode").startswith("no hash"), penctl(lab, i, "mode")
    if peers:
        for i in range(1, NODES + 1):
            wait_for(lambda i=i: penctl(lab, i, "peers").count("connected yes incoming yes")
                     == NODES - 1, 15, f"node{i}'s peers connected")
    backends: dict[str, set[str]] = {s: set() for s in CLIENTS}
    nodes: dict[str, set[int]] = {s: set() for s in CLIENTS}
    for round_ in range(4):
        for src in random.Random(round_).sample(CLIENTS, len(CLIENTS)):
            r = fetch(lab.client_ns, conf.ANYCAST, src=src, timeout=2.0)
            assert r is not None, f"{src} -> anycast failed"
            backends[src].add(r.backend)
            nodes[src].add(r.node)
        time.sleep(0.3)
    several_nodes = sum(1 for s in CLIENTS if len(nodes[s]) > 1)
    kept = sum(1 for s in CLIENTS if len(backends[s]) == 1)
    print(f"\nFIGURES ECMP {'with' if peers else 'without'} peers: {several_nodes} of "
          f"{len(CLIENTS)} clients reached more than one node; {kept} of {len(CLIENTS)} saw one "
          f"backend")
    assert several_nodes > len(CLIENTS) // 2, f"ECMP put only {several_nodes} on several nodes"
    if peers:
        assert kept == len(CLIENTS), backends
    else:
        assert kept < len(CLIENTS), backends
