"""Our datagrams in C penlogd, and C's and our penlogd side by side (docs/pen.md "Request log (-l)", docs/penlogd.md "Matching")."""
from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest
from support.procs import free_port, stop_process, wait_for
from support.logs import lines_of, send, start_penlogd

from pen.core.formats.accesslog import PenEntry, net_datagram

pytestmark = pytest.mark.compat
C_PENLOGD = "/usr/bin/penlogd"
WEB = '127.0.0.1 - - [22/Nov/2026:10:00:{n:02d} +0000] "GET /{path} HTTP/1.1" 200 5'


def start_c_penlogd(tmp: Path) -> tuple[subprocess.Popen, int, Path]:
    out = tmp / "c-merged.log"
    for _ in range(20):                       # C cannot take port 0: pick one, retry on a clash
        port = free_port(socket.SOCK_DGRAM)
        proc = subprocess.Popen([C_PENLOGD, "-f", "-b", "-l", str(out), str(port)],
                                stderr=subprocess.PIPE)
        try:
            proc.wait(0.3)                    # "Problem binding": exits at once
        except subprocess.TimeoutExpired:
            return proc, port, out
    raise AssertionError("C penlogd never bound a port")


def traffic() -> list[tuple[bytes, bool]]:
    """Sequential requests, each web line right after its pen entry: where C is right."""
    out: list[tuple[bytes, bool]] = []
    for i in range(30):
        client = f"127.0.0.{2 + i % 7}"
        e = PenEntry(client, 50000 + i, "127.0.0.1", 80, 40000 + i, 1795315407 + i,
                     f"GET /{i % 4} HTTP/1.1")
        out.append((net_datagram(e), True))
        out.append(((WEB.format(n=i, path=i % 4) + "\n").encode(), False))
    out.append(((WEB.format(n=59, path="never-seen-by-pen") + "\n").encode(), False))
    return out


def test_c_penlogd_reads_our_datagrams_like_ours(tmp_path: Path) -> None:
    c_proc, c_port, c_out = start_c_penlogd(tmp_path)
    proc, port, out = start_penlogd(tmp_path, "--hold", "0")
    try:
        for data, _ in traffic():
            send(c_port, data)
            send(port, data)
        n = len([1 for _, is_pen in traffic() if not is_pen])
        wait_for(lambda: len(lines_of(c_out)) == n and len(lines_of(out)) == n, what="both outputs")
    finally:
        stop_process(c_proc, strict=True)
        stop_process(proc, strict=True)
    assert lines_of(out) == lines_of(c_out)
    assert lines_of(out)[0].startswith("127.0.0.2 ")
    assert lines_of(out)[-1] == WEB.format(n=59, path="never-seen-by-pen")
