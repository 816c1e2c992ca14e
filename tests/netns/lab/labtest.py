"""Shared by the lab tests: the lab's command line, its client's log, the poll interval of their
bounded waits (support.procs.wait_for)."""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
LAB = REPO / "deploy" / "lab" / "lab.py"
BIN = Path(sys.executable).parent


@dataclass
class Lab:
    name: str
    dir: Path

    def run(self, *args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
        res = subprocess.run([sys.executable, str(LAB), "--name", self.name, "--state-dir", str(self.dir),
                              "--bin", str(BIN), *args], capture_output=True, text=True, timeout=timeout)
        if check and res.returncode != 0:
            raise AssertionError(f"lab {' '.join(args)} failed ({res.returncode}):\n{res.stdout}{res.stderr}\n"
                                 + self.diagnostics())
        return res

    def state(self, node: str) -> str | None:
        try:
            return json.loads((self.dir / node / "state.json").read_text())["instances"][0]["state"]
        except (OSError, ValueError, KeyError, IndexError):
            return None

    def has_vip(self, node: str, vip: str = "192.0.2.100") -> bool:
        """Whether the node's eth0 holds the VIP (deploy/ha-example's 192.0.2.100)."""
        out = subprocess.run(["ip", "-n", f"{self.name}-{node}", "-br", "-4", "addr", "show", "dev", "eth0"],
                             capture_output=True, text=True, timeout=10).stdout
        return f" {vip}/" in out

    def diagnostics(self) -> str:
        status = subprocess.run([sys.executable, str(LAB), "--name", self.name, "--state-dir", str(self.dir),
                                 "--bin", str(BIN), "status"], capture_output=True, text=True, timeout=30)
        tails = []
        for f in sorted(self.dir.glob("lb*/*.out")) + sorted(self.dir.glob("lb*/transitions.log")):
            tails.append(f"--- {f.relative_to(self.dir)}\n" + "\n".join(f.read_text(errors="replace").splitlines()[-8:]))
        return status.stdout + "\n".join(tails)


# support.procs.wait_for's interval for the lab: its state files and status commands are
# rewritten by agents on their own timers, so reading them every 50 ms is soon enough
POLL = 0.05


def read_client_log(path: Path) -> list[tuple[float, float, bool, str]]:
    out = []
    for line in path.read_text().splitlines():
        parts = line.split(" ", 3)
        if len(parts) == 4:
            out.append((float(parts[0]), float(parts[1]), parts[2] == "ok", parts[3]))
    return out
