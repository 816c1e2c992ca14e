"""Health checks protect the first clients too (issue 18, item 5).

The checked server 198.51.100.99 silently drops SYNs (a static neighbour entry with a MAC
nobody owns: its SYNs vanish, as in test_accept_limits.py).  Before, every checked server
started as up, so clients arriving at start-up were sent to it and waited the whole connect
timeout (-t 2: 4 of 64 did).  Now a checked server takes clients only after its first probe
succeeded, and pen accepts only once the first probes have finished.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from support.dataplane import lab

pytestmark = [pytest.mark.netns, pytest.mark.root]

CLIENTS = """
import socket, time
worst = 0.0
served = 0
for _ in range(64):
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", 8000), timeout=10) as s:
        if s.makefile("rb").readline().startswith(b"peer "):
            served += 1
    worst = max(worst, time.monotonic() - start)
print(served, round(worst, 3))
"""


def test_no_client_waits_the_connect_timeout_at_start_up(tmp_path: Path) -> None:
    with lab() as lb:
        ns = lb.ns("h")
        lb.syn_black_hole(ns)
        lb.peer_backend(ns, "127.0.0.1", 9000)
        lb.pen(ns, ["-r", "-t", "2", "-o", "server 1 check tcp interval 1 timeout 0.5",
                    "127.0.0.1:8000", "127.0.0.1:9000", "198.51.100.99:80"], tmp_path)
        served, worst = lb.client(ns, CLIENTS, timeout=60).split()
        print(f"SUMMARY 64 clients at start-up, SYN-dropping checked server, -t 2: "
              f"served {served}, worst wait {worst} s")
        assert int(served) == 64
        assert float(worst) < 1.5          # the connect timeout is 2 s; the probe's is 0.5 s
