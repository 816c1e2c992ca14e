"""Two real pens sharing their client tables over loopback (issue 17, docs/peers.md): a
client keeps its server whichever node it reaches, a restarted node is synced again, a node
with the wrong key is refused and counted."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from support.control import cmd, start_pen

from support.procs import Pen, fetch_name, wait_for

CLIENTS = [f"127.0.0.{10 + i}" for i in range(20)]


def key_file(directory: Path, name: str = "peer.key", secret: bytes | None = None) -> str:
    path = directory / name
    path.write_bytes(secret or os.urandom(32).hex().encode())
    return str(path)


def status(ctl: str) -> dict:
    return json.loads(cmd(ctl, "peers_json"))


def listen_port(ctl: str) -> int:
    return int(status(ctl)["listen"].rpartition(":")[2])


def row(ctl: str, peer: str | None = None) -> dict:
    """The first (or the named) peer row; {} while there is none."""
    rows = status(ctl)["peers"]
    return next((r for r in rows if peer is None or r["peer"].startswith(peer)), {})


def node(tmp_path: Path, key: str, servers: list[str], *peers: str,
         each: int = 1) -> tuple[Pen, str]:
    opts = ["--peer-listen", "127.0.0.1:0", "--peer-key", key]
    for p in peers:
        opts += ["--peer", p]
    if each > 1:
        opts += ["--workers", str(each)]
    return start_pen(tmp_path, *servers, opts=opts)


@pytest.mark.parametrize("each", [1, 2], ids=["one-process", "workers-2"])
def test_clients_keep_their_server_on_the_other_node_and_after_its_restart(
        tmp_path: Path, backends, each: int) -> None:
    a_srv, b_srv, c_srv = backends("name", "a", "b", "c")
    key = key_file(tmp_path)
    pen_a, ctl_a = node(tmp_path, key, [a_srv.addr, b_srv.addr, c_srv.addr], each=each)
    port_a = listen_port(ctl_a)
    # node B lists the servers in another order: peers name them by address and port
    pen_b, ctl_b = node(tmp_path, key, [c_srv.addr, a_srv.addr, b_srv.addr],
                        f"127.0.0.1:{port_a}", each=each)
    try:
        cmd(ctl_a, f"peer 127.0.0.1:{listen_port(ctl_b)}")
        wait_for(lambda: row(ctl_a).get("connected") and row(ctl_b).get("connected"), 10,
                 what="both peers connected")
        first = {c: fetch_name(pen_a, source=c) for c in CLIENTS}
        assert "FAIL" not in first.values() and len(set(first.values())) > 1
        wait_for(lambda: row(ctl_b)["taken"] >= len(CLIENTS), 10, what="B took A's entries")
        assert {c: fetch_name(pen_b, source=c) for c in CLIENTS} == first
        drift = row(ctl_b)["drift"]
        assert drift and any(line.startswith("server slots differ") for line in drift)
        assert not any(line.startswith("servers only") for line in drift)

        # B restarts (a new, empty table, a new port): A's table comes back to it
        pen_b.stop()
        wait_for(lambda: not row(ctl_a)["connected"], 15, what="A sees B gone")
        cmd(ctl_a, "no peer")
        pen_b, ctl_b = node(tmp_path, key, [c_srv.addr, a_srv.addr, b_srv.addr],
                            f"127.0.0.1:{port_a}", each=each)
        cmd(ctl_a, f"peer 127.0.0.1:{listen_port(ctl_b)}")
        wait_for(lambda: row(ctl_b)["taken"] >= len(CLIENTS), 10, what="B re-synced")
        assert {c: fetch_name(pen_b, source=c) for c in CLIENTS} == first
        wait_for(lambda: row(ctl_b)["connected"], 10, what="B dialled A again")
        text = cmd(ctl_b, "peers")
        assert text.startswith("listen 127.0.0.1:") and "connected yes incoming yes" in text
    finally:
        pen_b.stop()
        pen_a.stop()


def test_a_node_with_another_key_is_refused_and_counted(tmp_path: Path, backends) -> None:
    (a_srv,) = backends("name", "a")
    pen_a, ctl_a = node(tmp_path, key_file(tmp_path, "a.key"), [a_srv.addr])
    port_a = listen_port(ctl_a)
    pen_x, ctl_x = node(tmp_path, key_file(tmp_path, "x.key"), [a_srv.addr],
                        f"127.0.0.1:{port_a}")
    try:
        fetch_name(pen_x, source="127.0.0.9")
        wait_for(lambda: row(ctl_a).get("auth_failed", 0) >= 1, 10,
                 what="A counted the bad HELLO")
        assert row(ctl_a)["taken"] == 0 and not row(ctl_a)["incoming"]
        assert row(ctl_a)["peer"] == "127.0.0.1 (incoming)"
        assert not row(ctl_x)["connected"]
        assert "authentication failed" in pen_a.errors()
    finally:
        pen_x.stop()
        pen_a.stop()


def test_a_listener_beyond_loopback_without_a_key_is_a_start_up_error(tmp_path: Path) -> None:
    conf = tmp_path / "pen.conf"
    conf.write_text("peer_listen 0.0.0.0:0\n")
    with pytest.raises(RuntimeError, match="needs --peer-key"):
        Pen("127.0.0.1:9", opts=["-F", str(conf)], ready_timeout=5)


def test_a_new_key_on_both_nodes_takes_over_and_names_resolve(tmp_path: Path, backends) -> None:
    a_srv, b_srv = backends("name", "a", "b")
    key_a, key_b = key_file(tmp_path, "a.key", b"1" * 32), key_file(tmp_path, "b.key", b"1" * 32)
    pen_a, ctl_a = node(tmp_path, key_a, [a_srv.addr, b_srv.addr])
    pen_b, ctl_b = node(tmp_path, key_b, [a_srv.addr, b_srv.addr],
                        f"localhost:{listen_port(ctl_a)}")          # a name, resolved once
    try:
        wait_for(lambda: row(ctl_b).get("connected"), 10, what="B connected to A by name")
        for path in (key_a, key_b):
            Path(path).write_bytes(b"2" * 32)
        os.utime(key_a, ns=(1, 1))          # a rewrite within the same mtime tick still counts
        cmd(ctl_a, f"peer_key {key_a}")
        cmd(ctl_b, f"peer_key {key_b}")
        before = row(ctl_a).get("taken", 0)
        wait_for(lambda: row(ctl_b).get("connected"), 15, what="B reconnected under the new key")
        served = fetch_name(pen_b, source="127.0.0.77")
        wait_for(lambda: row(ctl_a).get("taken", 0) > before, 10, what="A took B's new entry")
        assert fetch_name(pen_a, source="127.0.0.77") == served
    finally:
        pen_b.stop()
        pen_a.stop()


def test_a_flood_of_silent_connections_is_refused_and_a_real_peer_still_gets_in(
        tmp_path: Path, backends) -> None:
    import socket
    (a_srv,) = backends("name", "a")
    key = key_file(tmp_path)
    pen_a, ctl_a = node(tmp_path, key, [a_srv.addr])
    port_a = listen_port(ctl_a)
    silent = []
    try:
        for _ in range(20):                 # from 127.0.0.1, never a HELLO
            s = socket.create_connection(("127.0.0.1", port_a), timeout=5)
            silent.append(s)
        wait_for(lambda: status(ctl_a).get("refused", 0) >= 16, 10, what="the flood refused")
        pen_b, ctl_b = start_pen(tmp_path, a_srv.addr, opts=[
            "--peer-listen", "127.0.0.2:0", "--peer-key", key, "--peer", f"127.0.0.1:{port_a}"])
        try:
            # B dials from 127.0.0.1 too: it gets in once the silent ones time out (5 s)
            wait_for(lambda: row(ctl_b).get("connected"), 20, what="B connected despite the flood")
        finally:
            pen_b.stop()
        assert f" refused {status(ctl_a)['refused']}" in cmd(ctl_a, "peers")
    finally:
        for s in silent:
            s.close()
        pen_a.stop()


def test_takeover_keeps_the_peer_port(tmp_path: Path, backends) -> None:
    """`--takeover`: the new pen binds the peer port while the old one still holds it."""
    (a_srv,) = backends("name", "a")
    key = key_file(tmp_path)
    ctl = str(tmp_path / "old.ctl")
    old = Pen(a_srv.addr, opts=["-C", ctl, "--peer-listen", "127.0.0.1:0", "--peer-key", key])
    new = None
    try:
        port = listen_port(ctl)
        new = Pen(a_srv.addr, listen=old.listen, opts=[
            "--takeover", ctl, "-C", str(tmp_path / "new.ctl"),
            "--peer-listen", f"127.0.0.1:{port}", "--peer-key", key])
        assert old.proc.wait(15) == 0
        assert listen_port(str(tmp_path / "new.ctl")) == port
    finally:
        if new is not None:
            new.stop()
        old.stop()
