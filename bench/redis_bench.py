#!/usr/bin/env python3
"""redis-benchmark through each balancer: a second real client beside wrk (issue 16).

Two redis-server backends (Debian's, no persistence) on loopback; for each balancer in turn
(interleaved reps, a fresh balancer process per run) `redis-benchmark -t get,set` with
`-P 1` and `-P 16`, 50 clients.  Reports requests/s (median over reps), the ratio to C pen in
the same run, and the balancer's CPU per request (utime+stime of the process tree).

    python3 bench/redis_bench.py [--reps 3] [--requests 200000] [--balancers cpen,penha,penha-w2]
    (penhac / penhac-wN: the hot path compiled into build/compiled by scripts/compile.sh)
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import (C_PEN, HERE, VENV_PEN, cpu_times, free_port, proc_tree,  # noqa: E402
                   wait_for, worker_count)

REDIS_SERVER = "/usr/bin/redis-server"
REDIS_BENCH = "/usr/bin/redis-benchmark"


def ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start_redis(tmp: Path) -> tuple[list[subprocess.Popen], list[int]]:
    procs, ports = [], []
    for i in range(2):
        port = free_port()
        procs.append(subprocess.Popen(
            [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(tmp), "--daemonize", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        ports.append(port)
    for port in ports:
        wait_for(lambda p=port: ping(p), 10, what=f"redis on {port}")
    return procs, ports


COMPILED_TREE = HERE.parent / "build" / "compiled"     # scripts/compile.sh's, for penhac


def balancer_argv(kind: str, port: int, backends: list[int]) -> list[str]:
    exe = C_PEN if kind == "cpen" else str(VENV_PEN)
    argv = [exe, "-f", "-x", "10000", "-c", "10000"]
    if worker_count(kind) > 1:
        argv += ["--workers", str(worker_count(kind))]
    return argv + [f"127.0.0.1:{port}"] + [f"127.0.0.1:{p}" for p in backends]


def balancer_env(kind: str) -> dict | None:
    """penhac / penhac-wN: the compiled hot path first on the path."""
    if kind.startswith("penhac"):
        return {**os.environ, "PYTHONPATH": str(COMPILED_TREE)}
    return None


def one_run(kind: str, backends: list[int], pipeline: int, test: str, requests: int) -> dict:
    port = free_port()
    argv = balancer_argv(kind, port, backends)
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, env=balancer_env(kind))
    try:
        wait_for(lambda: ping(port), 20, step=0.005, what=f"{kind} ping")
        pids = proc_tree(proc.pid)
        u0, s0 = cpu_times(pids)
        t0 = time.monotonic()
        r = subprocess.run([REDIS_BENCH, "-h", "127.0.0.1", "-p", str(port), "-c", "50",
                            "-n", str(requests), "-P", str(pipeline), "-t", test, "--csv", "-q"],
                           capture_output=True, text=True, timeout=600)
        wall = time.monotonic() - t0
        u1, s1 = cpu_times(proc_tree(proc.pid))
        if proc.poll() is not None:
            raise RuntimeError(f"{kind} died")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    rps = None
    for line in r.stdout.splitlines():
        cells = [c.strip('"') for c in line.split(",")]
        if len(cells) >= 2 and cells[0].upper() == test.upper():
            rps = float(cells[1])
    if rps is None:
        raise RuntimeError(f"redis-benchmark gave no rate: {r.stdout[-400:]} {r.stderr[-400:]}")
    cpu = (u1 - u0) + (s1 - s0)
    return {"rps": rps, "cpu_us_per_req": 1e6 * cpu / requests, "wall": wall}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--requests", type=int, default=200000)
    ap.add_argument("--balancers", default="cpen,penha,penha-w2")
    a = ap.parse_args()
    kinds = a.balancers.split(",")
    cases = [(t, p) for t in ("get", "set") for p in (1, 16)]
    results: dict[tuple, list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="pen-redis-") as tmp:
        procs, backends = start_redis(Path(tmp))
        try:
            for rep in range(a.reps):
                order = kinds[rep % len(kinds):] + kinds[:rep % len(kinds)]
                for test, pipeline in cases:
                    for kind in order:
                        n = a.requests * (4 if pipeline > 1 else 1)
                        res = one_run(kind, backends, pipeline, test, n)
                        results.setdefault((kind, test, pipeline), []).append(res)
                        print(f"rep {rep} {kind} {test} -P {pipeline}: {res['rps']:,.0f}/s "
                              f"{res['cpu_us_per_req']:.1f} us CPU/req", file=sys.stderr)
        finally:
            for p in procs:
                p.terminate()
                p.wait(10)
    print(f"load average after: {os.getloadavg()}")
    print("| test | balancer | req/s (median) | ratio to C pen | µs CPU/req | reps |")
    print("|---|---|---:|---:|---:|---:|")
    for test, pipeline in cases:
        base = statistics.median(r["rps"] for r in results[("cpen", test, pipeline)]) \
            if ("cpen", test, pipeline) in results else None
        for kind in kinds:
            rs = results[(kind, test, pipeline)]
            rps = statistics.median(r["rps"] for r in rs)
            cpu = statistics.median(r["cpu_us_per_req"] for r in rs)
            ratio = f"{rps / base:.2f}" if base else "-"
            print(f"| {test.upper()} -P {pipeline} | {kind} | {rps:,.0f} | {ratio} | "
                  f"{cpu:.1f} | {len(rs)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
