"""pending_max and the listen backlog (-q) in a namespace (pen(1) -q, docs/dataplane.md).

The only server, 198.51.100.99, has a static neighbour entry with a MAC nobody owns, so its
SYNs vanish and each upstream connect stays in progress.  With `pending_max 1` pen stops accepting after the
first client: the others wait in the kernel's accept queue, which `ss` shows as the listening
socket's Recv-Q; its Send-Q is the backlog pen asked for with -q.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from support.procs import wait_for
from support.dataplane import lab

pytestmark = [pytest.mark.netns, pytest.mark.root]

HOLD = """
import socket, time
socks = [socket.create_connection(("127.0.0.1", 8000), timeout=5) for _ in range(3)]
print("connected", flush=True)
time.sleep(30)
"""


def listen_queue(lb, ns: str) -> tuple[int, int]:
    """(Recv-Q, Send-Q) of the listener on port 8000."""
    out = lb.sh(ns, "ss -ltnH 'sport = :8000'").stdout.split()
    return int(out[1]), int(out[2])


@pytest.mark.parametrize("pending_max,queued", [(1, 2), (100, 0)])
def test_pending_max_and_backlog(tmp_path: Path, pending_max: int, queued: int) -> None:
    with lab() as lb:
        ns = lb.ns("p")
        lb.syn_black_hole(ns)
        lb.pen(ns, ["-q", "77", "-t", "20", "-o", f"pending_max {pending_max}",
                    "127.0.0.1:8000", "198.51.100.99:80"], tmp_path)
        assert listen_queue(lb, ns) == (0, 77)                    # -q is the backlog
        log = tmp_path / "hold.txt"
        lb.spawn(ns, [sys.executable, "-c", HOLD], log=log)
        wait_for(lambda: "connected" in log.read_text(), 10, what="clients")
        wait_for(lambda: listen_queue(lb, ns)[0] == queued, 5,
                 what=f"{queued} clients waiting in the accept queue")
        # and they stay there while the one accepted client's connect is in progress
        assert lb.sh(ns, "ss -tnH state syn-sent").stdout.count("198.51.100.99") == \
            3 - queued
