"""The HA pair with pen peers (issue 17, docs/ha.md "Clients keep their server"): 20 client
addresses, tracked (pen.cfg's `roundrobin` replaced by `no roundrobin` on both nodes, as an
operator would), keep their backend across a graceful failover, the old master's return with
preemption (its pen restarted, its table re-synced from the peer) and a hard kill, 20 of 20.

Figures are printed (`pytest -s`) and in the assertion messages.
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from labtest import BIN, LAB, POLL, Lab  # noqa: E402
from support.procs import wait_for  # noqa: E402

pytestmark = [pytest.mark.root, pytest.mark.netns, pytest.mark.slow,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces")]

VIP = "192.0.2.100"
CLIENTS = [f"192.0.2.{60 + i}" for i in range(20)]
CONTROL = "127.0.0.1:10080"
FETCH = r"""
import json, socket, sys
out = {}
for src in sys.argv[1:]:
    try:
        s = socket.create_connection((%r, 80), timeout=3, source_address=(src, 0))
        s.sendall(b"GET / HTTP/1.0\r\nHost: lab\r\n\r\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
        s.close()
        out[src] = data.rsplit(b"\r\n\r\n", 1)[-1].decode().strip() or "EMPTY"
    except OSError as e:
        out[src] = f"FAIL {e.__class__.__name__}"
print(json.dumps(out))
""" % VIP


@pytest.fixture(params=[True, False], ids=["peers", "no-peers"])
def lab(tmp_path: Path, request: pytest.FixtureRequest):
    """The lab in tracking mode (`--tracking`: pen.cfg's `no roundrobin` on both nodes), with
    pen.env's PEN_PEERS, or without them (`--no-peers`): the check that the test can fail,
    and the figure docs/ha.md compares with."""
    name = f"pp{os.getpid() % 100000}{'p' if request.param else 'n'}"
    lab = Lab(name, tmp_path / "lab")
    lab.with_peers = request.param          # type: ignore[attr-defined]
    try:
        lab.run("--tracking", *([] if request.param else ["--no-peers"]), "up", timeout=90)
        yield lab
    finally:
        subprocess.run([sys.executable, str(LAB), "--name", name, "--state-dir", str(lab.dir), "down"],
                       capture_output=True, text=True, timeout=60)


def penctl(lab: Lab, node: str, line: str) -> str:
    return lab.run("exec", node, "--", str(BIN / "penctl"), CONTROL, *line.split(), timeout=20).stdout


def peers(lab: Lab, node: str) -> dict:
    try:
        return json.loads(penctl(lab, node, "peers_json"))
    except (AssertionError, ValueError):
        return {}


def peer_row(lab: Lab, node: str) -> dict:
    rows = [r for r in peers(lab, node).get("peers", []) if r.get("error") != "this node itself"]
    return rows[0] if rows else {}


def fetch(lab: Lab, order: list[str] = CLIENTS) -> dict[str, str]:
    res = subprocess.run(["ip", "netns", "exec", f"{lab.name}-client", sys.executable, "-c", FETCH,
                          *order], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def kept(before: dict[str, str], after: dict[str, str]) -> int:
    return sum(1 for c in CLIENTS if after.get(c) == before[c])


def test_twenty_clients_keep_their_backend_across_failovers(lab: Lab) -> None:
    with_peers = lab.with_peers             # type: ignore[attr-defined]
    for address in CLIENTS:
        subprocess.run(["ip", "netns", "exec", f"{lab.name}-client", "ip", "addr", "add",
                        f"{address}/24", "dev", "eth0"], check=True, timeout=10)
    for node in ("lb1", "lb2"):
        assert penctl(lab, node, "mode").split()[2:4] == ["no", "roundrobin"], "not tracking"
    for node in ("lb1", "lb2") if with_peers else ():
        wait_for(lambda: peer_row(lab, node).get("connected") and peer_row(lab, node).get("incoming"),
                 20, POLL, f"{node}'s peer connected both ways")
    figures: list[str] = []

    before = fetch(lab)
    assert not [v for v in before.values() if v.startswith("FAIL")], before
    spread = sorted(set(before.values()))
    if with_peers:
        wait_for(lambda: peer_row(lab, "lb2").get("taken", 0) >= len(CLIENTS), 10, POLL,
                 "lb2 to take lb1's entries")
    # after a failover clients come back in their own order, not in the order they first came
    shuffled = random.Random(17).sample(CLIENTS, len(CLIENTS))
    figures.append(f"clients on {len(spread)} backends: {spread}")

    # 1. graceful stop of the master: lb2 serves with lb1's table
    lab.run("stop", "lb1", timeout=120)
    wait_for(lambda: lab.state("lb2") == "MASTER", 15, POLL, "lb2 MASTER")
    after = fetch(lab, shuffled)
    figures.append(f"graceful failover: {kept(before, after)} of {len(CLIENTS)} kept their backend")

    # 2. lb1 returns (a new pen, an empty table) and preempts: lb2's table reaches it
    t0 = time.monotonic()
    lab.run("start", "lb1", timeout=120)
    wait_for(lambda: lab.state("lb2") == "BACKUP", 15, POLL, "lb2 BACKUP")
    synced = peer_row(lab, "lb1").get("taken", 0) if with_peers else 0
    back = fetch(lab, shuffled[::-1])
    figures.append(f"return with preemption: {kept(before, back)} of {len(CLIENTS)} kept their backend "
                   f"(lb1 had taken {synced} entries when lb2 went BACKUP, "
                   f"{time.monotonic() - t0:.1f} s after the start)")

    row = peer_row(lab, "lb2") if with_peers else {}
    drift = row.get("drift")
    # 3. hard kill of the master
    lab.run("kill", "lb1", timeout=60)
    wait_for(lambda: lab.state("lb2") == "MASTER", 15, POLL, "lb2 MASTER")
    hard = fetch(lab, shuffled)
    figures.append(f"hard kill: {kept(before, hard)} of {len(CLIENTS)} kept their backend")
    row = peer_row(lab, "lb2") if with_peers else {}
    figures.append(f"lb2 peers: sent {row.get('sent')} received {row.get('received')} "
                   f"taken {row.get('taken')} bad {row.get('bad')} drift {drift}")
    summary = ("with peers" if with_peers else "without peers") + "\n" + "\n".join(figures)
    print("FIGURES " + summary)
    if not with_peers:
        assert min(kept(before, after), kept(before, hard)) < len(CLIENTS), summary
        return
    assert kept(before, after) == len(CLIENTS), summary
    assert kept(before, back) == len(CLIENTS), summary
    assert kept(before, hard) == len(CLIENTS), summary
    assert row.get("bad") == 0 and drift == [], summary
