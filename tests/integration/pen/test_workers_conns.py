"""`--workers 2`: the per-connection commands of the control port (penctl(1) `connection N`,
`close N`, `socket N`) and the status page's connection list reach the connections the
workers hold; worker w's slot s is connection s * 2 + w (docs/pen.md "More cores")."""
from __future__ import annotations

import json
import re
import socket

from support.control import cmd, wait_control
from support.procs import Pen, wait_for


def connections(path: str) -> list[dict]:
    return json.loads(cmd(path, "snapshot_json"))["connections"]


def test_connection_close_and_socket_reach_the_workers_connections(backends, tmp_path) -> None:
    (a,) = backends("name", "a")
    path = str(tmp_path / "ctl.sock")
    # a socket each (SO_REUSEPORT): the kernel spreads connections by their 4-tuple, so 40
    # of them land on both workers (a shared socket goes to whichever worker wakes first)
    pen = Pen(a.addr, opts=["--workers", "2", "-x", "100", "-C", path], reuseport=True)
    held: list[socket.socket] = []
    try:
        wait_control(path)
        wait_for(lambda: len(pen.children()) == 2, 10, what="two workers")
        for _ in range(40):
            s = pen.connect()
            assert s.makefile("rb").readline() == b"served-by a\n"
            held.append(s)
        views = connections(path)
        assert len(views) == 40
        numbers = [v["index"] for v in views]
        assert len(set(numbers)) == 40
        assert {n % 2 for n in numbers} == {0, 1}, numbers        # both workers listed
        assert all(v["state"] == 2 and v["server"] == 0 for v in views)
        for v in views[:2] + views[-2:]:
            n = v["index"]
            text = cmd(path, f"connection {n}")
            assert text == (f"Connection {n}:\nstate = 2\ndownfd = {v['downfd']}, upfd = "
                            f"{v['upfd']}\nclient = {v['client']}, server = 0\npend = 0\n")
            owner = cmd(path, f"socket {v['upfd']}")
            m = re.fullmatch(rf"Socket {v['upfd']} belongs to connection (-?\d+)\n", owner)
            assert m is not None and int(m.group(1)) >= 0, owner
        victim = views[-1]["index"]
        assert cmd(path, f"close {victim}") == f"Forcibly closing connection {victim}\n"
        # exactly one client sees its connection closed: the one the victim was
        wait_for(lambda: len(connections(path)) == 39, 5, what="the connection closed")
        assert victim not in [v["index"] for v in connections(path)]
        assert cmd(path, f"connection {victim}").splitlines()[1] == "state = 0"
        closed = 0
        for s in held:
            s.settimeout(0.01)
            try:
                closed += s.recv(1) == b""
            except (TimeoutError, BlockingIOError):
                pass
        assert closed == 1
        assert cmd(path, "connection 199").splitlines()[1] == "state = 0"   # -x 100, 2 workers
        assert cmd(path, "connection 200") == "Connection 200 out of range\n"
        assert cmd(path, "socket 100000") == "Socket 100000 belongs to connection -1\n"
    finally:
        for s in held:
            s.close()
        pen.stop()
