"""The failover drill runs as written (issue 15): every `lab-step` block of
deploy/runbooks/failover-drill.md, verbatim, through `lab exec` on the nodes it names, with a
client on the VIP; and the graceful hand-overs lose nothing, ten times in a row each.

`lab exec` maps /etc/pen-ha, /run/penvrrp and systemctl to the node's own, so nothing in the
runbook is rewritten for the lab.
"""
from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from labtest import BIN, LAB, POLL, REPO, Lab, read_client_log  # noqa: E402
from support.procs import wait_for  # noqa: E402

DRILL = REPO / "deploy" / "runbooks" / "failover-drill.md"
TRIALS = int(os.environ.get("PENHA_HANDOVER_TRIALS", "10"))
_counter = itertools.count(1)

pytestmark = [pytest.mark.root, pytest.mark.netns, pytest.mark.slow,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces")]


def steps() -> list[tuple[str, list[str], list[str]]]:
    """(name, nodes, command lines) of each `<!-- lab-step: NAME NODE... -->` block, in order."""
    out = []
    for m in re.finditer(r"<!-- lab-step: ([\w-]+)((?: lb\d)+) -->\s*```sh\n(.*?)```", DRILL.read_text(), re.S):
        out.append((m.group(1), m.group(2).split(), [ln for ln in m.group(3).splitlines() if ln.strip()]))
    return out


@pytest.fixture
def lab(tmp_path: Path):
    lab = Lab(f"rb{os.getpid() % 100000}x{next(_counter)}", tmp_path / "lab")
    log = tmp_path / "client.log"
    try:
        lab.run("up", timeout=90)
        client = subprocess.Popen([sys.executable, str(LAB), "--name", lab.name, "--state-dir", str(lab.dir),
                                   "--bin", str(BIN), "client", "--out", str(log), "--quiet", "--timeout", "1",
                                   "--pause", "0.03"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_for(lambda: log.exists() and log.stat().st_size > 2000, 20, POLL, "the client to run")
        lab.client_log = log       # type: ignore[attr-defined]
        yield lab
    finally:
        if "client" in locals():
            os.killpg(client.pid, signal.SIGTERM)
            client.wait(10)
        subprocess.run([sys.executable, str(LAB), "--name", lab.name, "--state-dir", str(lab.dir), "down"],
                       capture_output=True, text=True, timeout=120)


def failed_between(lab: Lab, t0: float, t1: float) -> list[tuple[float, float, bool, str]]:
    return [r for r in read_client_log(lab.client_log) if t0 <= r[0] < t1 and not r[2]]  # type: ignore[attr-defined]


def sh(lab: Lab, node: str, line: str, check: bool = True) -> str:
    return lab.run("exec", node, "--", "sh", "-c", line, timeout=60, check=check).stdout


def master(lab: Lab, node: str, timeout: float = 15) -> None:
    other = "lb2" if node == "lb1" else "lb1"
    wait_for(lambda: lab.state(node) == "MASTER" and lab.state(other) != "MASTER", timeout, POLL, f"{node} MASTER")


@pytest.mark.timeout(600)
def test_failover_drill_runs_as_written(lab: Lab) -> None:
    plan = steps()
    assert [s[0] for s in plan] == ["who", "maintenance", "released", "stop", "start", "pen-dies", "after-flap", "crash",
                                    "afterwards"], plan
    figures = []
    for name, nodes, lines in plan:
        t0 = time.time()
        if name == "after-flap":         # the cable: not a command on the node
            lab.run("link", "lb1", "down")
            time.sleep(1.5)
            lab.run("link", "lb1", "up")
            master(lab, "lb1", 20)
        outputs = {node: [sh(lab, node, line) for line in lines] for node in nodes}
        text = {node: "".join(out) for node, out in outputs.items()}
        if name == "who":
            assert "VI_51: MASTER on eth0 vrid 51 v3 priority 150" in text["lb1"], text
            assert "VI_51: BACKUP" in text["lb2"] and "192.0.2.100/24" in text["lb1"], text
            assert "weight -60: ok pen can use 3 servers" in text["lb1"], text
        elif name == "maintenance":
            master(lab, "lb2", 10)
            wait_for(lambda: lab.state("lb1") == "BACKUP", 5, POLL, "lb1 BACKUP")
        elif name == "released":
            assert not lab.has_vip("lb1") and lab.state("lb2") == "MASTER", lab.diagnostics()
        elif name == "stop":
            res = lab.run("exec", "lb1", "--", "penvrrp", "status", check=False)
            assert res.returncode == 3 and res.stdout.startswith("stale: "), res.stdout + res.stderr
            assert lab.state("lb2") == "MASTER"
        elif name == "start":
            master(lab, "lb1", 20)
        elif name == "pen-dies":
            wait_for(lambda: lab.state("lb2") == "MASTER", 5, POLL, "lb2 to take over from a pen-less lb1")
            master(lab, "lb1", 20)
        elif name == "after-flap":
            assert text["lb1"].startswith("3\n") and "MASTER" in text["lb1"], text
        elif name == "crash":
            wait_for(lambda: lab.state("lb2") == "MASTER", 5, POLL, "lb2 to take over from a crashed lb1")
            master(lab, "lb1", 25)
        elif name == "afterwards":
            states = [re.findall(r'"state": "(\w+)"', text[n]) for n in nodes]
            assert states == [["MASTER"], ["BACKUP"]], text
        time.sleep(1.0)
        figures.append((name, len(failed_between(lab, t0, time.time()))))
    print("\n" + "\n".join(f"RUNBOOK {name:12} failed={n}" for name, n in figures))
    by = dict(figures)
    # the planned switch-overs lose nothing (see test_graceful_hand_overs_lose_nothing)
    assert by["who"] == 0 and by["stop"] == 0 and by["maintenance"] == 0 and by["start"] == 0, figures


@pytest.mark.alone
@pytest.mark.timeout(900)
def test_graceful_hand_overs_lose_nothing(lab: Lab) -> None:
    """Maintenance flag, `systemctl stop penvrrp`, and a rolling upgrade of both nodes:
    0 failed requests in each of TRIALS trials at about 100 new connections a second."""
    results: dict[str, list[int]] = {"maintenance": [], "stop penvrrp": [], "rolling upgrade": []}

    def trial(kind: str, steps_: list[tuple[str, str]], settle: list[str]) -> None:
        master(lab, "lb1", 25)
        time.sleep(0.5)
        t0 = time.time()
        for node, line in steps_:
            sh(lab, node, line)
            if node == "lb1" and line.startswith(("touch", "systemctl stop penvrrp")):
                master(lab, "lb2", 10)
        for node in settle:
            master(lab, node, 25)
        time.sleep(1.0)
        results[kind].append(len(failed_between(lab, t0, time.time())))

    for _ in range(TRIALS):
        trial("maintenance", [("lb1", "touch /etc/pen-ha/maintenance"), ("lb1", "rm /etc/pen-ha/maintenance")],
              ["lb1"])
        trial("stop penvrrp", [("lb1", "systemctl stop penvrrp"), ("lb1", "systemctl start penvrrp")], ["lb1"])
    # rolling-upgrade.md step 3 waits, as failover-drill.md step 3 does, for the VIP to leave lb1
    released = next(lines[0] for name, _nodes, lines in steps() if name == "released")
    assert released in (REPO / "deploy" / "runbooks" / "rolling-upgrade.md").read_text()
    for _ in range(TRIALS):
        # rolling-upgrade.md: the backup first, then the master after handing the VIP over
        trial("rolling upgrade", [("lb2", "systemctl stop penvrrp pen penlogd"),
                                  ("lb2", "systemctl start penlogd pen penvrrp"),
                                  ("lb1", "touch /etc/pen-ha/maintenance"),
                                  ("lb1", released),
                                  ("lb1", "systemctl stop penvrrp pen penlogd"),
                                  ("lb1", "systemctl start penlogd pen penvrrp"),
                                  ("lb1", "rm /etc/pen-ha/maintenance")], ["lb1"])
    summary = "  ".join(f"{k}: {v}" for k, v in results.items())
    print(f"\nHANDOVER failed requests per trial  {summary}")
    # Issue 15's target: a connection open through the old master when the VIP moves keeps
    # working (the new master forwards the flows it does not know to the old master, which
    # lingers with the VIP but claims it on the link no more: docs/penvrrp.md "Hand-over").
    assert all(n == 0 for v in results.values() for n in v), summary
