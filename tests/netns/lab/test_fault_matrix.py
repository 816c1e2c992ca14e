"""The fault matrix (issue 15): every fault on the master, measured for pen-ha and for the
reference (C pen 0.34.1 + keepalived 2.2.7, whose vrrp_script runs C penctl) on the same lab
and the same timers: 1 s adverts, trackers every 1 s, fall 2 (deploy/lab `--stack`).

Both labs run at the same time in their own namespaces, each with its own client: 100 new
connections a second on a fixed schedule (an open loop, `labclient.py --rate`), 1 s timeout.
The loop is open because the rows compare failure counts: in a closed loop, a stack whose
requests time out sends fewer of them than one that refuses at once, and so "fails" fewer for
a longer outage.  For every row: the failed requests and the longest gap without a successful
reply, from the fault until the pair has settled.  The table is
printed, and written to $PENHA_FAULT_MATRIX when that is set (docs/ha.md holds a run's).
"""
from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from labtest import BIN, LAB, POLL, Lab, read_client_log  # noqa: E402
from support.procs import wait_for  # noqa: E402

pytestmark = [pytest.mark.root, pytest.mark.netns, pytest.mark.slow, pytest.mark.alone,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces"),
              pytest.mark.skipif(not all(os.access(p, os.X_OK) for p in
                                         ("/usr/bin/pen", "/usr/bin/penctl", "/usr/sbin/keepalived")),
                                 reason="the reference needs Debian's pen and keepalived")]

STACKS = ("pen-ha", "keepalived")
AGENT = {"pen-ha": "penvrrp", "keepalived": "keepalived"}
ADVERT, TRACK, FALL = 1.0, 1.0, 2
SKEW_100 = (256 - 100) / 256 * ADVERT
RATE = 100                             # requests a second, on a fixed schedule
# What a row may differ by and still be a tie: where both stacks wait out the same protocol
# timer (link down: Master_Down_Interval), a tenth of a second of scheduling jitter in the
# labs is 10 requests at RATE, and the gap check below allows 0.5 s.
TIE_S = 0.1
_counter = itertools.count(1)


@dataclass
class Row:
    fault: str
    failed: int
    gap: float
    requests: int
    detail: str = ""

    def cell(self) -> str:
        return f"{self.failed} / {self.gap:.2f} s"


class Stack:
    def __init__(self, stack: str, tmp: Path) -> None:
        self.stack = stack
        self.agent = AGENT[stack]
        self.lab = Lab(f"fm{os.getpid() % 100000}{stack[0]}{next(_counter)}", tmp / stack)
        self.log = tmp / f"{stack}-client.log"
        self.client: subprocess.Popen[bytes] | None = None
        self.windows: list[tuple[str, float, float]] = []

    def up(self) -> None:
        self.lab.run("--stack", self.stack, "--advert-int", str(ADVERT), "--track-interval", str(TRACK),
                     "up", timeout=120)
        self.client = subprocess.Popen(
            [sys.executable, str(LAB), "--name", self.lab.name, "--state-dir", str(self.lab.dir), "--bin",
             str(BIN), "client", "--out", str(self.log), "--quiet", "--timeout", "1", "--rate", str(RATE)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_for(lambda: self.log.exists() and self.log.stat().st_size > 2000, 20, POLL, "the client to run")

    def down(self) -> None:
        if self.client is not None:
            os.killpg(self.client.pid, signal.SIGTERM)
            try:
                self.client.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.client.pid, signal.SIGKILL)
                self.client.wait(5)
        subprocess.run([sys.executable, str(LAB), "--name", self.lab.name, "--state-dir", str(self.lab.dir),
                        "down"], capture_output=True, text=True, timeout=120)

    # -- helpers -------------------------------------------------------------------------------
    def sh(self, node: str, cmd: str, check: bool = True) -> None:
        self.lab.run("exec", node, "--", "sh", "-c", cmd, timeout=60, check=check)

    def holds(self, node: str) -> bool:
        res = subprocess.run(["ip", "-n", f"{self.lab.name}-{node}", "-br", "-4", "addr", "show", "dev", "eth0"],
                             capture_output=True, text=True, timeout=10)
        return " 192.0.2.100/" in res.stdout

    def settled(self) -> bool:
        """lb1 alone holds the VIP, and both agents run (and pen on both)."""
        if not (self.holds("lb1") and not self.holds("lb2")):
            return False
        res = subprocess.run([sys.executable, str(LAB), "--name", self.lab.name, "--state-dir", str(self.lab.dir),
                              "status"], capture_output=True, text=True, timeout=30)
        lines = [ln for ln in res.stdout.splitlines() if ln.strip().startswith(("lb1 ", "lb2 ")) and " vrrp " in ln]
        return len(lines) == 2 and all("DOWN" not in ln for ln in lines) and "MASTER" in lines[0]

    def settle(self, timeout: float = 40) -> None:
        for node in ("lb1", "lb2"):
            for unit in ("pen", self.agent):
                self.sh(node, f"systemctl is-active -q {unit} || systemctl start {unit}", check=False)
        wait_for(self.settled, timeout, 0.2, f"{self.stack}: lb1 MASTER again\n{self.lab.diagnostics()}")
        time.sleep(1.5)

    def after_advert(self) -> None:
        """Return just after lb2 has heard lb1's advert, so that each stack meets the fault at
        the same point of its advert interval: where in the interval a fault falls decides up
        to one interval of a take-over (RFC 9568 6.4.2, Master_Down_Interval from the last
        advert), and that phase must not decide a row."""
        res = subprocess.run(["ip", "netns", "exec", f"{self.lab.name}-lb2", "timeout", "5", "tcpdump",
                              "-i", "eth0", "-c", "1", "-nn", "-q", "--immediate-mode", "ip proto 112"],
                             capture_output=True, text=True, timeout=10)
        assert res.returncode == 0, f"{self.stack}: no advert from lb1 within 5 s\n{res.stderr}"

    def served_again(self) -> bool:
        """The client's last RATE/10 requests (0.1 s of them) all succeeded."""
        last = read_client_log(self.log)[-RATE // 10:]
        return len(last) == RATE // 10 and all(r[2] for r in last)

    def measure(self, fault: str, act: Callable[[], None], tail: float) -> None:
        only = os.environ.get("PENHA_FAULT_ROWS")          # while working on one row: a substring
        if only and only not in fault:
            return
        self.settle()
        self.after_advert()
        t0 = time.time()
        act()
        time.sleep(tail)
        # the window ends once the pair is as it began and the client is served again, so an
        # outage that outlasts the tail (clients left pointing at the wrong node) counts here,
        # not in the next row
        self.settle()
        wait_for(self.served_again, 60, 0.2, f"{self.stack}: the client served again after {fault}\n"
                 f"{self.lab.diagnostics()}")
        self.windows.append((fault, t0, time.time()))

    # -- the faults, on the master lb1 ------------------------------------------------------------
    def run_matrix(self) -> None:
        a = self.agent
        self.measure("graceful stop of the agent (SIGTERM)", lambda: self.sh("lb1", f"systemctl stop {a}"), 4)
        self.measure("SIGKILL of the agent", lambda: self.sh("lb1", f"systemctl kill -s SIGKILL {a}"), 8)

        def freeze() -> None:
            self.sh("lb1", f"systemctl kill -s SIGSTOP {a}")
            time.sleep(6)
            self.sh("lb1", f"systemctl kill -s SIGCONT {a}")
        self.measure("SIGSTOP of the agent (6 s)", freeze, 5)
        self.measure("SIGKILL of pen", lambda: self.sh("lb1", "systemctl kill -s SIGKILL pen"), 8)

        def link(down: float) -> Callable[[], None]:
            def act() -> None:
                self.lab.run("link", "lb1", "down")
                time.sleep(down)
                self.lab.run("link", "lb1", "up")
            return act
        self.measure("link down 8 s, then up", link(8), 8)
        self.measure("link flap 1.5 s", link(1.5), 8)

        def partition() -> None:
            self.lab.run("partition", "lb1")
            self.lab.run("partition", "lb2")
            time.sleep(6)
            self.lab.run("heal", "lb1")
            self.lab.run("heal", "lb2")
        self.measure("partition between the balancers (6 s)", partition, 5)

        def backends() -> None:
            self.lab.run("backends", "lb1", "off")
            time.sleep(8)
            self.lab.run("backends", "lb1", "on")
        self.measure("loss of the backend network on lb1 (8 s)", backends, 6)

    def rows(self) -> dict[str, Row]:
        log = read_client_log(self.log)
        out = {}
        for fault, t0, t1 in self.windows:
            window = [r for r in log if t0 <= r[0] < t1]
            ends = sorted([t0] + [r[1] for r in window if r[2]] + [t1])
            gap = max(b - a for a, b in zip(ends, ends[1:]))
            failed = [r for r in window if not r[2]]
            reasons: dict[str, int] = {}
            for r in failed:
                reasons[r[3]] = reasons.get(r[3], 0) + 1
            detail = (f"failures from +{failed[0][0] - t0:.2f} s to +{failed[-1][0] - t0:.2f} s: "
                      + " ".join(f"{k}={v}" for k, v in sorted(reasons.items()))) if failed else ""
            out[fault] = Row(fault, len(failed), gap, len(window), detail)
        return out


def table(results: dict[str, dict[str, Row]]) -> str:
    lines = ["| fault on the master | pen-ha: failed / longest gap | keepalived 2.2.7 + C pen: failed / longest gap |",
             "|---|---|---|"]
    for fault, row in results["pen-ha"].items():
        lines.append(f"| {fault} | {row.cell()} | {results['keepalived'][fault].cell()} |")
    return "\n".join(lines) + "\n"


@pytest.mark.timeout(1200)
def test_fault_matrix_side_by_side(tmp_path: Path) -> None:
    stacks = [Stack(s, tmp_path) for s in STACKS]
    errors: list[BaseException] = []

    def run(st: Stack) -> None:
        try:
            st.up()
            st.run_matrix()
        except BaseException as e:       # reported below, after both labs are down
            errors.append(e)

    threads = [threading.Thread(target=run, args=(st,)) for st in stacks]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(900)
    finally:
        for st in stacks:
            st.down()
    if errors:
        raise errors[0]
    results = {st.stack: st.rows() for st in stacks}
    text = table(results)
    print("\n" + text)
    for stack, rows in results.items():
        for row in rows.values():
            print(f"{stack:10} {row.fault:42} requests {row.requests:5d} {row.detail}")
    if os.environ.get("PENHA_FAULT_MATRIX"):
        Path(os.environ["PENHA_FAULT_MATRIX"]).write_text(text)
    ours, ref = results["pen-ha"], results["keepalived"]
    for fault, row in ours.items():
        if fault not in ref:
            continue
        assert row.requests > 200, f"{fault}: the client hardly ran\n{text}"
        # no worse than the reference (TIE_S of requests is jitter, not a regression)
        assert row.failed <= ref[fault].failed + 3 + RATE * TIE_S, f"{fault}: worse than the reference\n{text}"
        assert row.gap <= ref[fault].gap + 0.5, f"{fault}: a longer gap than the reference\n{text}"
    if "graceful stop of the agent (SIGTERM)" in ours:     # issue 15's target: 0 (penvrrp.md "Hand-over")
        assert ours["graceful stop of the agent (SIGTERM)"].failed == 0, text
        assert ours["graceful stop of the agent (SIGTERM)"].gap < 0.5, text
    if "SIGKILL of pen" in ours:     # tracker interval x fall + Skew_Time + 200 ms (+ the 1 s client timeout)
        assert ours["SIGKILL of pen"].gap <= TRACK * FALL + SKEW_100 + 0.2 + 1.0, text
