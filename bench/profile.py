#!/usr/bin/env python3
"""Where pen-ha's time goes: py-spy stacks and strace syscall counts under one workload.

    .venv/bin/python bench/profile.py --workload close [--balancer penha] [--duration 10]

Profile before optimising (issue 8).  Starts the same backends as bench.py, runs the balancer
under wrk, and in turn (never together, they would distort each other):
  1. py-spy record --format raw (pen-ha only): self and inclusive time per function;
  2. strace -c -f: syscalls per connection (close) or per request (keep-alive), against
     C pen's 23 per connection (strace -c of both, bench/PROFILE.md).
Needs py-spy in the venv (pip install py-spy) and Debian's strace; writes into --out.
"""
from __future__ import annotations

import argparse
import collections
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as B  # noqa: E402

PYSPY = Path(sys.executable).parent / "py-spy"


def summarise_raw(raw: Path, top: int = 25) -> dict:
    """Collapsed stacks -> self and inclusive sample shares per function."""
    self_c: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        n = int(n)
        total += n
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        frames = [re.sub(r"\(/.*?/(pen|site-packages|lib/python3\.\d+)/", r"(\1/", f)
                  for f in frames]
        self_c[frames[-1]] += n
        for f in set(frames):
            incl[f] += n
    pct = lambda c: [(f, round(100 * v / max(1, total), 1)) for f, v in c.most_common(top)]
    return {"samples": total, "self": pct(self_c), "inclusive": pct(incl)}


def strace_counts(text: str) -> tuple[int, dict[str, int]]:
    calls: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        # % time  seconds  usecs/call  calls  [errors]  syscall
        if len(parts) >= 5 and re.match(r"^\d+\.\d+$", parts[0]) and parts[-1] != "total":
            nums = parts[3:-1]
            calls[parts[-1]] = int(nums[0])
    return sum(calls.values()), calls


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", default="close", choices=list(B.WORKLOADS))
    ap.add_argument("--balancer", default="penha")
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--gil", action="store_true",
                    help="py-spy samples only while the GIL is held: interpreter time, "
                         "without the syscalls")
    a = ap.parse_args()
    out = a.out or B.HERE / "out" / f"profile-{a.balancer}-{a.workload}-{time.strftime('%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    B.raise_nofile()
    tmp = Path(tempfile.mkdtemp(prefix="pen-prof-"))
    tmp.chmod(0o755)
    lua = tmp / "done.lua"
    lua.write_text(B.WRK_LUA)
    backends = B.Backends(tmp)
    report: dict = {"balancer": a.balancer, "workload": a.workload, "duration": a.duration}
    try:
        backends.start()
        # 1. py-spy (python balancers only)
        if a.balancer.startswith("penha") and PYSPY.exists():
            bal = B.make_balancer(a.balancer, tmp, backends.ports)
            bal.start(tmp)
            try:
                raw = out / "pyspy.raw"
                spy = subprocess.Popen([str(PYSPY), "record", "--format", "raw", "-r",
                                        str(a.rate), "-d", str(int(a.duration) + 1), "-o",
                                        str(raw), "--pid", str(bal.proc.pid), "--nonblocking"]
                                       + (["--gil"] if a.gil else []),
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                time.sleep(0.5)
                res = B.run_wrk(bal.port, a.workload, a.duration, lua)
                spy.wait(60)
                report["pyspy_wrk"] = {k: res[k] for k in ("requests", "duration_us")}
                report["pyspy"] = summarise_raw(raw)
            finally:
                bal.stop()
        # 2. strace -c -f
        if shutil.which("strace") and not a.gil:
            bal = B.make_balancer(a.balancer, tmp, backends.ports)
            bal.start(tmp)
            try:
                log = out / "strace.txt"
                st = subprocess.Popen(["strace", "-c", "-f", "-o", str(log), "-p",
                                       str(bal.proc.pid)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(0.5)
                res = B.run_wrk(bal.port, a.workload, a.duration, lua)
                time.sleep(0.3)
                st.send_signal(2)
                st.wait(30)
                total, calls = strace_counts(log.read_text())
                n = max(1, res["requests"])
                report["strace"] = {
                    "requests": res["requests"], "total_calls": total,
                    "calls_per_request": round(total / n, 2),
                    "per_request": {k: round(v / n, 2) for k, v in
                                    sorted(calls.items(), key=lambda kv: -kv[1])}}
            finally:
                bal.stop()
    finally:
        backends.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    (out / "profile.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
