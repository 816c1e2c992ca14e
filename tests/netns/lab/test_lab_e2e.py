"""End to end: deploy/lab builds the two-node HA cluster, a client hits the VIP continuously,
and every failover drill is measured: requests failed, and for how long (issue 7).

Figures are printed one line per scenario (`pytest -s` shows them; they are also in the
assertion messages).  The lab is always torn down, even when a step fails.
"""
from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from labtest import BIN, LAB, POLL, REPO, Lab, read_client_log  # noqa: E402
from support.procs import wait_for  # noqa: E402

RUNBOOK = REPO / "deploy" / "runbooks" / "backend-maintenance.md"
_counter = itertools.count(1)

pytestmark = [pytest.mark.root, pytest.mark.netns, pytest.mark.slow, pytest.mark.alone,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces")]


@pytest.fixture
def lab(tmp_path: Path):
    name = f"pl{os.getpid() % 100000}x{next(_counter)}"
    lab = Lab(name, tmp_path / "lab")
    try:
        lab.run("up", timeout=60)
        yield lab
    finally:
        subprocess.run([sys.executable, str(LAB), "--name", name, "--state-dir", str(lab.dir), "down"],
                       capture_output=True, text=True, timeout=60)
        left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert f"{name}-" not in left, f"lab {name} left namespaces behind:\n{left}"


def runbook_steps() -> dict[str, list[str]]:
    """The command lines of each `<!-- lab-step: NAME -->` block of the maintenance runbook."""
    text = RUNBOOK.read_text()
    steps = {}
    for m in re.finditer(r"<!-- lab-step: (\w+) -->\s*```sh\n(.*?)```", text, re.S):
        steps[m.group(1)] = [line for line in m.group(2).splitlines() if line.strip()]
    assert set(steps) >= {"drain", "wait", "return"}, f"runbook steps missing: {sorted(steps)}"
    return steps


@dataclass
class Figures:
    scenario: str
    requests: int
    failed: int
    outage: float          # from the first failed request's start to the last one's start
    longest_fail: float    # the slowest failed request (3 s = the client's timeout)
    slow: int              # succeeded, but took over 0.9 s (a SYN retransmitted across a switch)
    max_latency: float
    reasons: str

    def line(self) -> str:
        return (f"FIGURES {self.scenario:28} requests={self.requests:5d} failed={self.failed:4d} "
                f"outage={self.outage:6.3f}s longest_fail={self.longest_fail:.3f}s slow={self.slow:3d} "
                f"max_latency={self.max_latency:.3f}s {self.reasons}").rstrip()


def figures(log: list[tuple[float, float, bool, str]], scenario: str, t0: float, t1: float) -> Figures:
    window = [r for r in log if t0 <= r[0] < t1]
    failed = [r for r in window if not r[2]]
    outage = (max(r[0] for r in failed) - min(r[0] for r in failed)) if failed else 0.0
    lat = [r[1] - r[0] for r in window if r[2]]
    reasons: dict[str, int] = {}
    for r in failed:
        reasons[r[3]] = reasons.get(r[3], 0) + 1
    return Figures(scenario, len(window), len(failed), outage,
                   max((r[1] - r[0] for r in failed), default=0.0), sum(1 for x in lat if x > 0.9),
                   max(lat, default=0.0), " ".join(f"{k}={v}" for k, v in sorted(reasons.items())))


def test_failover_drills_measured(lab: Lab, tmp_path: Path) -> None:
    steps = runbook_steps()
    client_log = tmp_path / "client.log"
    client = subprocess.Popen([sys.executable, str(LAB), "--name", lab.name, "--state-dir", str(lab.dir),
                               "--bin", str(BIN), "client", "--out", str(client_log), "--quiet"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    windows: list[tuple[str, float, float]] = []
    checks: list[str] = []

    def scenario(name: str, action, settle, tail: float = 1.5) -> None:
        t0 = time.time()
        action()
        settle()
        time.sleep(tail)           # requests started just before the switch get to finish
        windows.append((name, t0, time.time()))

    try:
        wait_for(lambda: client_log.exists() and client_log.stat().st_size > 2000, 10, POLL, "the client to run")
        windows.append(("baseline", time.time(), time.time() + 1.0))
        time.sleep(1.0)

        # 1. graceful stop of the master: maintenance priority hands the VIP over, pen drains
        scenario("graceful stop of master", lambda: lab.run("stop", "lb1"),
                 lambda: wait_for(lambda: lab.state("lb2") == "MASTER", 10, POLL, "lb2 MASTER"))
        # 2. it comes back and preempts
        scenario("return with preemption", lambda: lab.run("start", "lb1"),
                 lambda: wait_for(lambda: lab.state("lb2") == "BACKUP", 10, POLL, "lb2 BACKUP"))
        # 3. hard failure: SIGKILL pen, penvrrp (and penlogd) on the master
        scenario("hard kill of master", lambda: lab.run("kill", "lb1"),
                 lambda: wait_for(lambda: lab.state("lb2") == "MASTER", 10, POLL, "lb2 MASTER"), tail=2.0)
        # 4. it comes back without preemption: lb2 keeps the VIP
        scenario("return without preemption", lambda: lab.run("start", "lb1", "--nopreempt"),
                 lambda: wait_for(lambda: lab.state("lb1") == "BACKUP", 10, POLL, "lb1 BACKUP"), tail=3.0)
        checks.append(f"after nopreempt return: lb1 {lab.state('lb1')} lb2 {lab.state('lb2')}")
        assert (lab.state("lb1"), lab.state("lb2")) == ("BACKUP", "MASTER"), checks[-1]

        # 5. backend maintenance, with the runbook's own commands on both balancers
        def drain_work_return() -> None:
            for step in ("drain", "wait"):
                for node in ("lb1", "lb2"):
                    for cmd in steps[step]:
                        lab.run("exec", node, "--", "sh", "-c", cmd, timeout=30)
            drained_at = time.time()
            lab.run("stop", "web3")            # the work
            time.sleep(1.0)
            lab.run("start", "web3")
            returned_at = time.time()
            for node in ("lb1", "lb2"):
                for cmd in steps["return"]:
                    lab.run("exec", node, "--", "sh", "-c", cmd, timeout=30)
            windows.append(("  (web3 out of rotation)", drained_at + 0.2, returned_at))

        scenario("backend drain and return", drain_work_return, lambda: None, tail=2.0)
    finally:
        os.killpg(client.pid, signal.SIGTERM)
        try:
            client.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(client.pid, signal.SIGKILL)
            client.wait(5)

    log = read_client_log(client_log)
    results = {name: figures(log, name, t0, t1) for name, t0, t1 in windows}
    for f in results.values():
        print(f.line())
    out_of_rotation = [r for r in log if r[2] and r[3] == "web3"
                       and windows[-2][1] <= r[0] < windows[-2][2]]
    after_return = [r for r in log if r[2] and r[3] == "web3" and r[0] >= windows[-1][2] - 2.0]
    summary = "\n".join(f.line() for f in results.values()) + "\n" + "\n".join(checks)

    assert results["baseline"].failed == 0 and results["baseline"].requests > 20, summary
    # Target: none lost (issue 15).  `lab stop` waits, as failover-drill.md step 3 does, for the
    # old master to release the VIP before it stops pen: stopping pen while the node still holds
    # the VIP refused and reset the clients that had not yet seen the new master's gratuitous
    # ARP (6 of 611 in a loaded CI run, before the wait).
    graceful = results["graceful stop of master"]
    assert graceful.failed == 0, summary
    # preemption moves the VIP away from a node carrying traffic: the requests in flight
    # through it at that instant are lost (no connection sync in VRRP), a handful at most,
    # more on a loaded machine; a real outage would be a regression
    pre = results["return with preemption"]
    assert pre.failed <= max(10, pre.requests * 3 // 100) and pre.outage < 2.0, summary
    hard = results["hard kill of master"]
    assert hard.outage < 5.0, summary            # Master_Down (~1 s at 0.3 s adverts) + ARP
    assert results["return without preemption"].failed == 0, summary
    assert results["backend drain and return"].failed == 0, summary
    assert not out_of_rotation, f"web3 answered while drained: {out_of_rotation[:3]}\n{summary}"
    assert after_return, f"web3 got no requests after its return\n{summary}"
    merged = (lab.dir / "lb1" / "access.log").read_text() + (lab.dir / "lb2" / "access.log").read_text()
    assert "192.0.2.50 - - [" in merged, "penlogd's merged log does not show the real client"
