"""A client's connect timeout to a checked server counts as a failed probe (issue 18).

The server's listening socket has a full accept queue (backlog 0, never accepted), so the
kernel drops further SYNs; its check probes another, live port, so only clients see it dead.
"""
from __future__ import annotations

import socket
import time

from support.procs import wait_for


def test_client_connect_timeout_is_a_failed_probe(backends, pen_factory) -> None:
    (live,) = backends("name", "live")
    full = socket.socket()
    full.bind(("127.0.0.1", 0))
    full.listen(0)
    port = full.getsockname()[1]
    fillers = []
    for _ in range(2):                        # fill the accept queue; later SYNs are dropped
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        fillers.append(s)
    time.sleep(0.2)
    try:
        pen = pen_factory(f"127.0.0.1:{port}", live.addr, opts=[
            "-r", "-t", "1", "-O",
            f"server 0 check tcp port {live.port} interval 60 timeout 1 rise 1 fall 1"])
        for _ in range(2):                    # round robin: one of them tries server 0 first
            with pen.connect(timeout=10) as s:
                assert s.makefile("rb").readline() == b"served-by live\n"
        wait_for(lambda: "is DOWN (client connect timeout)" in pen.errors(), 5,
                 what="server 0 marked down by the client's timeout")
    finally:
        for s in fillers:
            s.close()
        full.close()
