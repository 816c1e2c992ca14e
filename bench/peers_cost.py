#!/usr/bin/env python3
"""What pen peers cost per new connection (issue 17; docs/peers.md), measured in process.

bench.py's `penha-peer` measures the whole pen with a peer connected, but wrk's clients all
come from 127.0.0.1: one client-table entry, so the peers send one entry per batch.  Here
every connection is a new client address (the worst case: each connection is a change to
send): the dispatcher's admit / connect / close cycle alone, then with the peers' change feed
and a flush every 100 ms of connections at the given rate (the sender's whole cost: drain,
encode, HMAC), and what the receiver spends applying those entries.  Interleaved reps,
medians; CPU time of this process only (time.process_time).

  python3 bench/peers_cost.py [--conns 200000] [--rate 5000] [--reps 5]
"""
from __future__ import annotations

import argparse
import socket
import statistics
import time

from pen.core.balance.dispatch import Dispatcher
from pen.core.balance.state import PenState
from pen.core.balance.store import PlainStore
from pen.core.peers.sync import PeerSync
from pen.core.peers.tables import PlainTable
from pen.settings import Settings

KEY = b"bench-key-0123456789"


def node(clients_max: int) -> tuple[Dispatcher, PenState]:
    st = PenState(Settings(clients_max=clients_max))
    for i in range(3):
        st.servers.ensure(i).set_address(socket.AF_INET, "192.0.2.1", 80 + i, ("192.0.2.1", 80 + i))
    return Dispatcher(st), st


def addresses(n: int) -> list[str]:
    return [f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}" for i in range(n)]


def run(hosts: list[str], peers: bool, batch: int) -> tuple[float, float]:
    """(µs of sender CPU per connection, µs of receiver CPU per connection)."""
    d, st = node(len(hosts))
    recv = 0.0
    now = 1000.0
    if peers:
        assert isinstance(d.store, PlainStore)
        a = PeerSync(PlainTable(st, d.store), KEY, "a")
        rd, rst = node(len(hosts))
        assert isinstance(rd.store, PlainStore)
        b = PeerSync(PlainTable(rst, rd.store), KEY, "b")
        la, hello_a = a.open_link(True, b"A" * 16, now)
        lb, hello_b = b.open_link(False, b"B" * 16, now)
        to_a = b.data(lb, hello_a, now)
        b.data(lb, a.data(la, hello_b + to_a, now), now)
        assert la.up and lb.up
    t0 = time.process_time()
    for i, h in enumerate(hosts):
        t = d.admit(h, 1, now)
        d.connect_started(t, now, established=True)
        d.closed(t, now)
        if peers and i % batch == batch - 1:
            out = a.flush(now).get(la, b"")
            r0 = time.process_time()
            b.data(lb, out, now)
            back = b.flush(now).get(lb, b"")        # its pings keep the link alive
            recv += time.process_time() - r0
            a.data(la, back, now)
        now += 0.0002
    total = time.process_time() - t0 - recv
    if peers:
        assert lb.counters.applied == len(hosts) and lb.counters.bad() == 0, lb.counters
    return total / len(hosts) * 1e6, recv / len(hosts) * 1e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--conns", type=int, default=200_000)
    p.add_argument("--rate", type=int, default=5000, help="new connections per second: the "
                   "flush (every 100 ms) carries rate/10 entries")
    p.add_argument("--reps", type=int, default=5)
    a = p.parse_args()
    hosts = addresses(a.conns)
    batch = max(1, a.rate // 10)
    base, with_peers, receiver = [], [], []
    for _ in range(a.reps):
        base.append(run(hosts, False, batch)[0])
        s, r = run(hosts, True, batch)
        with_peers.append(s)
        receiver.append(r)
    b, w, r = (statistics.median(x) for x in (base, with_peers, receiver))
    print(f"{a.conns} connections, each a new client; flush every {batch} connections "
          f"({a.rate}/s); {a.reps} reps, medians (min-max)")
    print(f"dispatcher alone:      {b:6.2f} µs/conn ({min(base):.2f}-{max(base):.2f})")
    print(f"with the peers' feed:  {w:6.2f} µs/conn ({min(with_peers):.2f}-{max(with_peers):.2f})"
          f"  +{w - b:.2f} µs")
    print(f"receiver, applying:    {r:6.2f} µs/conn ({min(receiver):.2f}-{max(receiver):.2f})")
    for whole in (80.0,):
        print(f"against ~{whole:.0f} µs of CPU per new connection for the whole pen (bench.py, "
              f"close): sender +{(w - b) / whole * 100:.1f}%, receiver +{r / whole * 100:.1f}%")


if __name__ == "__main__":
    main()
