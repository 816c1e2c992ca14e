#!/usr/bin/env python3
"""pen-ha against C pen and HAProxy, side by side (issue 8; bench/README.md).

Runs every balancer on the same backends, in interleaved reps, on the three workloads of
bench/README.md ("What it does"), and reports medians, min-max, latency, the balancer's CPU and
memory and every figure as a ratio to C pen in the same run: the machine is shared and noisy,
so only ratios taken in one run mean anything.

Stdlib only (matplotlib optional, for the PNG), so `python3 bench/bench.py` works from a fresh
clone once bench/run has installed the Debian packages.  Loopback only; every port is found by
binding port 0.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV_PEN = ROOT / ".venv" / "bin" / "pen"
C_PEN = "/usr/bin/pen"
HAPROXY = "/usr/sbin/haproxy"
NGINX = "/usr/sbin/nginx"
WRK = "/usr/bin/wrk"
MIB = 1024 * 1024
HZ = os.sysconf("SC_CLK_TCK")

# name -> (wrk connections, extra wrk args, path); as in performance.md
WORKLOADS: dict[str, tuple[int, list[str], str]] = {
    "keepalive": (50, [], "/1k.bin"),
    "close": (50, ["-H", "Connection: close"], "/1k.bin"),
    "bulk": (4, [], "/10m.bin"),
}
BODY = {"/1k.bin": 1024, "/10m.bin": 10 * MIB}

# wrk's done() hook: exact counts, not the rounded text of its report.
WRK_LUA = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"duration_us":%d,"requests":%d,"bytes":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"mean_us":%.1f}\n',
    summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean))
end
"""


# ---------------------------------------------------------------------------------------------
# small helpers
def free_port() -> int:
    """A free loopback port (bind port 0).  The gap before the child binds it is tiny."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, timeout: float, step: float = 0.01, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        r = cond()
        if r:
            return r
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(step)


def http_get(port: int, path: str, timeout: float = 2.0, close: bool = True) -> bytes:
    """One raw HTTP/1.1 request; returns the whole response (headers and body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        conn = "close" if close else "keep-alive"
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: b\r\nConnection: {conn}\r\n\r\n".encode())
        buf = bytearray()
        want = None
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            buf += chunk
            if want is None and b"\r\n\r\n" in buf:
                head, _, _ = bytes(buf).partition(b"\r\n\r\n")
                m = re.search(rb"content-length:\s*(\d+)", head, re.I)
                if m:
                    want = len(head) + 4 + int(m.group(1))
            if want is not None and len(buf) >= want:
                break
        return bytes(buf)


def proc_tree(pid: int) -> list[int]:
    """pid and all its descendants (pen's workers, if any)."""
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
        except OSError:
            continue
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def cpu_times(pids: list[int]) -> tuple[float, float]:
    """(user, system) seconds, reaped children included, of the processes (/proc/PID/stat)."""
    user = system = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        user += int(fields[11]) + int(fields[13])      # utime cutime
        system += int(fields[12]) + int(fields[14])    # stime cstime
    return user / HZ, system / HZ


def status_kib(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def fd_count(pids: list[int]) -> int:
    n = 0
    for p in pids:
        try:
            n += len(os.listdir(f"/proc/{p}/fd"))
        except OSError:
            pass
    return n


def machine_facts() -> dict:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) // 1024 // 1024 + 1} GiB"
    except OSError:
        pass

    def version(cmd: list[str]) -> str:
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return (r.stdout + r.stderr).strip().splitlines()[0]
        except Exception:
            return "?"
    return {
        "cpu": model, "nproc": os.cpu_count(), "memory": mem, "kernel": platform.release(),
        "python": sys.version.split()[0], "hostname": socket.gethostname(),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
        "versions": {
            "nginx": version([NGINX, "-v"]), "haproxy": version([HAPROXY, "-v"]),
            "wrk": version([WRK, "-v"]),
            "cpen": subprocess.run(["dpkg-query", "-W", "-f=${Version}", "pen"],
                                   capture_output=True, text=True).stdout or "?",
        },
    }


# ---------------------------------------------------------------------------------------------
# backends: one nginx worker, two ports, 1k.bin and 10m.bin
class Backends:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.ports = [free_port(), free_port()]
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        www = self.tmp / "www"
        www.mkdir(exist_ok=True)
        (www / "1k.bin").write_bytes(os.urandom(1024))
        (www / "10m.bin").write_bytes(os.urandom(10 * MIB))
        listens = "\n".join(f"    listen 127.0.0.1:{p};" for p in self.ports)
        conf = self.tmp / "nginx.conf"
        conf.write_text(f"""
worker_processes 1;
worker_rlimit_nofile 100000;
daemon off;
master_process on;
pid {self.tmp}/nginx.pid;
error_log {self.tmp}/nginx-error.log warn;
events {{ worker_connections 40000; multi_accept on; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  client_header_timeout 300s;
  default_type application/octet-stream;
  server {{
{listens}
    root {www};
  }}
}}
""")
        self.proc = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(self.tmp)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for p in self.ports:
            wait_for(lambda p=p: _try_get(p, "/1k.bin"), 10, what=f"nginx on {p}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _try_get(port: int, path: str) -> bool:
    try:
        r = http_get(port, path, timeout=1)
        return r.startswith(b"HTTP/1.1 200") and len(r) > BODY[path]
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------
# balancers
@dataclass
class Balancer:
    name: str
    argv: list[str]
    port: int
    control_port: int | None = None
    proc: subprocess.Popen | None = None
    log: Path | None = None
    start_connect_s: float = 0.0
    start_first_response_s: float = 0.0
    env: dict | None = None

    def start(self, tmp: Path) -> None:
        self.log = tmp / f"{self.name}-{self.port}.log"
        out = open(self.log, "wb")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True,
                                     env={**os.environ, **self.env} if self.env else None)
        out.close()

        def connected() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}): "
                                   f"{self.log.read_text(errors='replace')[-600:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                return False
        wait_for(connected, 20, step=0.002, what=f"{self.name} listening")
        self.start_connect_s = time.monotonic() - t0
        wait_for(lambda: _try_get(self.port, "/1k.bin"), 20, step=0.002,
                 what=f"{self.name} first response")
        self.start_first_response_s = time.monotonic() - t0

    def pids(self) -> list[int]:
        return proc_tree(self.proc.pid) if self.proc else []

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def make_balancer(kind: str, tmp: Path, backends: list[int], conns: int = 10000,
                  control: bool = False) -> Balancer:
    """kind: cpen, penha, penha-wN (pen-ha with --workers N), penhac and penhac-wN (the same
    with the hot path compiled by scripts/compile.sh, the tree in $PEN_BENCH_COMPILED_TREE),
    penha-alt and penha-alt-wN (pen-ha from the tree in $PEN_BENCH_ALT_TREE, to compare a change
    side by side), haproxy, haproxy-tN (HAProxy with N threads: what a C balancer does with N
    cores here), proto-user, proto-user-wN and proto-sockmap (bench/sockmap_proto.py, the
    minimal Python forwarder)."""
    port = free_port()
    b1, b2 = (f"127.0.0.1:{p}" for p in backends)
    cport = free_port() if control and not kind.startswith("haproxy") else None
    if kind == "haproxy" or kind.startswith("haproxy-t"):
        threads = kind.partition("-t")[2] or "1"
        if not (threads.isascii() and threads.isdigit()):
            raise ValueError(f"unknown balancer {kind!r}")
        cfg = tmp / f"haproxy-{port}.cfg"
        cfg.write_text(f"""
global
  nbthread {threads}
  maxconn {idle_capacity(conns)}
defaults
  mode tcp
  timeout connect 5s
  timeout client 300s
  timeout server 300s
frontend fe
  bind 127.0.0.1:{port}
  default_backend be
backend be
  balance roundrobin
  server s1 {b1}
  server s2 {b2}
""")
        return Balancer(kind, [HAPROXY, "-db", "-f", str(cfg)], port)
    if kind in ("proto-user", "proto-sockmap") or kind.startswith("proto-user-w"):
        # bench/sockmap_proto.py: a minimal forwarder, with or without the kernel forwarding
        return Balancer(kind, [sys.executable, str(HERE / "sockmap_proto.py"), "--mode",
                               kind.split("-")[1], "--workers", str(worker_count(kind)),
                               str(port), *(str(p) for p in backends)], port)
    if kind == "cpen":
        exe = C_PEN
    elif kind in ("penha", "penha-peer") or kind.startswith(("penha-w", "penhac", "penha-alt")):
        exe = str(VENV_PEN)
    else:
        raise ValueError(f"unknown balancer {kind!r}")
    argv = [exe, "-f", "-x", str(conns), "-c", str(conns)]
    if cport:
        argv += ["-u", "root", "-C", f"127.0.0.1:{cport}"]
    workers = worker_count(kind)
    if workers > 1:
        argv += ["--workers", str(workers)]
    if kind == "penha-peer":
        # issue 17: one peer connected: a second pen-ha (its peer listener only) started by
        # the same shell, which then becomes the measured pen.  The peer is left to init (a
        # subshell starts it), so its CPU and memory are not counted as the balancer's; it
        # shares the process group, so the balancer's stop ends it too
        pport = free_port()
        argv += ["--peer", f"127.0.0.1:{pport}"]
        sink = [exe, "-f", "--peer-listen", f"127.0.0.1:{pport}", f"127.0.0.1:{free_port()}",
                b1, b2]
        argv += [f"127.0.0.1:{port}", b1, b2]
        argv = ["/bin/sh", "-c", f"({shlex.join(sink)} >/dev/null 2>&1 &); exec {shlex.join(argv)}"]
        return Balancer(kind, argv, port, cport)
    argv += [f"127.0.0.1:{port}", b1, b2]
    env = None
    if kind.startswith("penha-alt"):
        # PYTHONPATH comes before the editable install's finder on sys.meta_path
        env = {"PYTHONPATH": os.environ["PEN_BENCH_ALT_TREE"]}
    elif kind.startswith("penhac"):
        env = {"PYTHONPATH": os.environ["PEN_BENCH_COMPILED_TREE"]}
    return Balancer(kind, argv, port, cport, env=env)


def byte_compile(trees: list) -> str:
    """Write pen-ha's bytecode caches first, as pip does when it installs a wheel: with
    PYTHONDONTWRITEBYTECODE set (as here) or a read-only tree, every start would compile each
    module from source again (about 50 ms of start-up, bench/PROFILE.md)."""
    py = ROOT / ".venv" / "bin" / "python"
    r = subprocess.run([str(py), "-m", "compileall", "-q", *map(str, trees)],
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        return f"bytecode caches not written ({r.stderr.strip()[-200:]}): start-up includes compiling"
    return "pen-ha's bytecode caches written before the runs (python -m compileall), as a wheel install has them"


def worker_count(kind: str) -> int:
    """penha-wN / penhac-wN / penha-alt-wN / proto-user-wN: N; any other kind: 1 (haproxy-tN
    is threads)."""
    _, _, n = kind.partition("-w")
    counted = kind.startswith(("penha-w", "penhac-w", "penha-alt-w", "proto-user-w"))
    return int(n) if counted and n.isascii() and n.isdigit() else 1


def workers_supported() -> str | None:
    """None if pen-ha accepts --workers, else the reason it does not."""
    r = subprocess.run([str(VENV_PEN), "--workers", "2", "--help"], capture_output=True,
                       text=True, timeout=30)
    if r.returncode != 0:
        return (r.stderr.strip().splitlines() or ["rejected"])[-1]
    return None


# ---------------------------------------------------------------------------------------------
# one measured run
def run_wrk(port: int, workload: str, duration: float, lua: Path, threads: int = 2) -> dict:
    conns, extra, path = WORKLOADS[workload]
    cmd = [WRK, f"-t{threads}", f"-c{conns}", f"-d{duration:g}s", "--latency", "-s", str(lua),
           *extra, f"http://127.0.0.1:{port}{path}"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    m = re.search(r"^BENCHJSON (.*)$", r.stdout, re.M)
    if not m:
        raise RuntimeError(f"wrk gave no result: {r.stdout[-800:]} {r.stderr[-800:]}")
    res = json.loads(m.group(1))
    res["cmd"] = shlex.join(cmd)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", r.stdout)
    res["non2xx"] = int(non2xx.group(1)) if non2xx else 0
    return res


def response_size(port: int, path: str, close: bool) -> int:
    return len(http_get(port, path, close=close))


def check_complete(res: dict, resp_size: int, conns: int) -> list[str]:
    """Reasons to reject the run: errors, non-2xx, bytes that do not add up."""
    bad = []
    for k in ("connect", "read", "write", "timeout", "status"):
        if res[k]:
            bad.append(f"{res[k]} {k} errors")
    if res["non2xx"]:
        bad.append(f"{res['non2xx']} non-2xx responses")
    if res["requests"] == 0:
        bad.append("no requests")
    lo = res["requests"] * resp_size
    hi = (res["requests"] + conns) * resp_size     # responses still in flight at the end
    if not lo <= res["bytes"] <= hi:
        bad.append(f"bytes {res['bytes']} not within [{lo}, {hi}] "
                   f"for {res['requests']} responses of {resp_size}")
    return bad


class ControlProbe(threading.Thread):
    """Control-port round trips (`pid\\n`, read to EOF) every 100 ms while under load."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port, self.rtts, self.errors = port, [], 0
        self.stop_ev = threading.Event()

    def run(self) -> None:
        while not self.stop_ev.wait(0.1):
            t0 = time.perf_counter()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
                    s.sendall(b"pid\n")
                    reply = b""
                    while chunk := s.recv(4096):
                        reply += chunk
                if not reply.strip().isdigit():
                    self.errors += 1
                    continue
                self.rtts.append(time.perf_counter() - t0)
            except OSError:
                self.errors += 1


def measure(kind: str, workload: str, tmp: Path, backends: list[int], duration: float,
            lua: Path, control: bool) -> dict:
    conns, extra, path = WORKLOADS[workload]
    bal = make_balancer(kind, tmp, backends, control=control)
    bal.start(tmp)
    try:
        resp = response_size(bal.port, path, close=bool(extra))
        pids = bal.pids()
        u0, s0 = cpu_times(pids)
        probe = ControlProbe(bal.control_port) if bal.control_port else None
        if probe:
            probe.start()
        res = run_wrk(bal.port, workload, duration, lua)
        if probe:
            probe.stop_ev.set()
            probe.join(10)
        pids = bal.pids()
        u1, s1 = cpu_times(pids)
        cpu_user, cpu_sys = u1 - u0, s1 - s0
        cpu = cpu_user + cpu_sys
        hwm = sum(status_kib(p, "VmHWM") for p in pids)
        if bal.proc.poll() is not None:
            raise RuntimeError(f"{kind} died during the run")
    finally:
        bal.stop()
    secs = res["duration_us"] / 1e6
    out = {
        "balancer": kind, "workload": workload, "cmd": shlex.join(bal.argv), "wrk": res["cmd"],
        "requests": res["requests"], "bytes": res["bytes"], "seconds": secs,
        "req_s": res["requests"] / secs, "mib_s": res["bytes"] / MIB / secs,
        "p50_ms": res["p50_us"] / 1000, "p99_ms": res["p99_us"] / 1000,
        "cpu_s": cpu, "cpu_pct": 100 * cpu / secs,
        "cpu_user_pct_of_cpu": 100 * cpu_user / cpu if cpu else 0.0,
        "cpu_us_per_req": 1e6 * cpu / max(1, res["requests"]),
        "cpu_us_per_mib": 1e6 * cpu / max(1e-9, res["bytes"] / MIB),
        "peak_rss_kib": hwm, "response_size": resp,
        "start_connect_ms": bal.start_connect_s * 1000,
        "start_first_response_ms": bal.start_first_response_s * 1000,
        "rejected": check_complete(res, resp, conns),
    }
    if probe:
        r = sorted(probe.rtts)
        out["control_rtt_ms"] = {
            "n": len(r), "errors": probe.errors,
            "p50": 1000 * r[len(r) // 2] if r else None,
            "p99": 1000 * r[min(len(r) - 1, int(len(r) * 0.99))] if r else None,
            "max": 1000 * r[-1] if r else None}
    return out


# ---------------------------------------------------------------------------------------------
# idle-connection memory
def idle_capacity(n: int, spare: int = 100) -> int:
    """Connections that fit: the balancer needs two descriptors per connection and the
    hard RLIMIT_NOFILE may not be raisable (containers without CAP_SYS_RESOURCE)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY:
        return n
    return min(n, (hard - spare) // 2)


def idle_memory(kind: str, tmp: Path, backends: list[int], n: int) -> dict:
    bal = make_balancer(kind, tmp, backends, conns=2 * n)
    bal.start(tmp)
    socks: list[socket.socket] = []
    try:
        pids = bal.pids()
        base_rss = sum(status_kib(p, "VmRSS") for p in pids)
        base_fds = fd_count(pids)
        t0 = time.monotonic()
        batch = 200
        for i in range(0, n, batch):
            for _ in range(min(batch, n - i)):
                s = socket.socket()
                s.settimeout(10)
                s.connect(("127.0.0.1", bal.port))
                socks.append(s)
            # wait until the balancer holds both sides of every connection so far
            # (slack: the start-up probe's connection may still be closing at the baseline)
            want = base_fds + 2 * len(socks) - 8
            wait_for(lambda: fd_count(bal.pids()) >= want, 30, step=0.005,
                     what=f"{kind} to proxy {len(socks)} idle connections")
        setup_s = time.monotonic() - t0
        time.sleep(0.5)
        pids = bal.pids()
        rss = sum(status_kib(p, "VmRSS") for p in pids)
        alive = _try_get(bal.port, "/1k.bin")
        return {"balancer": kind, "connections": n, "base_rss_kib": base_rss, "rss_kib": rss,
                "kib_per_conn": (rss - base_rss) / n, "setup_s": setup_s,
                "still_serving": alive, "cmd": shlex.join(bal.argv)}
    finally:
        for s in socks:
            s.close()
        bal.stop()


# ---------------------------------------------------------------------------------------------
# summary
def summarise(runs: list[dict], balancers: list[str], workloads: list[str]) -> dict:
    metrics = ["req_s", "mib_s", "p50_ms", "p99_ms", "cpu_us_per_req", "cpu_us_per_mib",
               "cpu_pct", "cpu_user_pct_of_cpu", "peak_rss_kib", "start_first_response_ms"]
    summ: dict = {}
    for w in workloads:
        for b in balancers:
            good = [r for r in runs if r["balancer"] == b and r["workload"] == w
                    and not r["rejected"]]
            allr = [r for r in runs if r["balancer"] == b and r["workload"] == w]
            d = {"reps": len(good), "rejected": len(allr) - len(good)}
            for m in metrics:
                vals = [r[m] for r in good]
                if vals:
                    d[m] = {"median": statistics.median(vals), "min": min(vals),
                            "max": max(vals)}
            ctl = [r["control_rtt_ms"]["p50"] for r in good
                   if r.get("control_rtt_ms", {}).get("p50") is not None]
            if ctl:
                d["control_rtt_p50_ms"] = statistics.median(ctl)
                d["control_rtt_p99_ms"] = statistics.median(
                    r["control_rtt_ms"]["p99"] for r in good if r.get("control_rtt_ms"))
            summ.setdefault(w, {})[b] = d
    # ratios to C pen
    for w, per in summ.items():
        ref = per.get("cpen", {})
        for b, d in per.items():
            d["ratio"] = {m: (d[m]["median"] / ref[m]["median"])
                          for m in metrics if m in d and m in ref and ref[m]["median"]}
    return summ


HEADLINE = {"keepalive": ("req_s", "req/s", "cpu_us_per_req", "µs CPU/req"),
            "close": ("req_s", "new conn/s", "cpu_us_per_req", "µs CPU/conn"),
            "bulk": ("mib_s", "MiB/s", "cpu_us_per_mib", "µs CPU/MiB")}


def targets(summ: dict, idle: list[dict]) -> list[tuple[str, str, str, str]]:
    """(target, measured, met?, note) rows: issue 16's (one process, and --workers 2)."""
    rows = []

    def ratio(w: str, b: str, m: str):
        return summ.get(w, {}).get(b, {}).get("ratio", {}).get(m)

    def row(name: str, val, op: str, goal: float, b: str = "penha"):
        if val is None:
            rows.append((name, "n/a", "-", f"{b} not measured"))
            return
        ok = val >= goal if op == ">=" else val <= goal
        rows.append((name, f"{val:.2f}x", "yes" if ok else "NO",
                     "" if ok else f"gap {val - goal:+.2f}x"))
    measured = {b for per in summ.values() for b in per}
    for b in ("penha", "penhac"):
        if b == "penhac" and b not in measured:
            continue
        pre = "" if b == "penha" else f"{b}: "
        row(f"{pre}keep-alive req/s >= 1.0x C pen", ratio("keepalive", b, "req_s"), ">=", 1.0, b)
        row(f"{pre}new conn/s >= 0.9x C pen", ratio("close", b, "req_s"), ">=", 0.9, b)
        row(f"{pre}bulk MiB/s >= 1.5x C pen", ratio("bulk", b, "mib_s"), ">=", 1.5, b)
        for w in ("keepalive", "close", "bulk"):
            row(f"{pre}p99 latency ({w}) <= 1.2x C pen", ratio(w, b, "p99_ms"), "<=", 1.2, b)
    wkinds = sorted(b for b in measured if worker_count(b) > 1 and not b.startswith("proto-"))
    for b in wkinds:
        row(f"{b}: new conn/s >= 1.1x C pen", ratio("close", b, "req_s"), ">=", 1.1, b)
        row(f"{b}: keep-alive req/s >= 0.9x C pen", ratio("keepalive", b, "req_s"), ">=", 0.9, b)
        row(f"{b}: bulk MiB/s >= 1.5x C pen", ratio("bulk", b, "mib_s"), ">=", 1.5, b)
    if not wkinds:
        rows.append(("--workers 2 targets", "n/a", "-", "penha-w2 not measured"))
    for b in sorted(b for b in measured if b.startswith(("haproxy-t", "proto-user"))):
        # not targets: what a C balancer with as many threads, or the minimal Python forwarder
        # (bench/sockmap_proto.py, one process or N), reaches on this machine
        new, alive = (0.9, 1.0) if b == "proto-user" else (1.1, 0.9)
        row(f"reference, {b}: new conn/s >= {new}x C pen", ratio("close", b, "req_s"), ">=",
            new, b)
        row(f"reference, {b}: keep-alive req/s >= {alive}x C pen",
            ratio("keepalive", b, "req_s"), ">=", alive, b)
    pi = [i for i in idle if i["balancer"] == "penha"]
    if pi:
        k = pi[0]["kib_per_conn"]
        rows.append((f"idle memory <= 4 KiB/conn at 10,000 conns ({pi[0]['connections']:,})",
                     f"{k:.2f} KiB",
                     "yes" if k <= 4 else "NO", "" if k <= 4 else f"gap {k - 4:+.2f} KiB"))
    return rows


def fmt(v: float) -> str:
    if v >= 1000:
        return f"{v:,.0f}"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def markdown(meta: dict, summ: dict, idle: list[dict], runs: list[dict]) -> str:
    m = meta["machine"]
    L = [f"# pen-ha benchmark results", "",
         f"Date: {meta['date']}  ",
         f"Machine: {m['cpu']}, {m['nproc']} CPUs, {m['memory']}, Linux {m['kernel']}, "
         f"Python {m['python']}; load average before the run {' '.join(m['loadavg'])}  ",
         f"Versions: nginx {m['versions']['nginx']}; {m['versions']['haproxy']}; "
         f"C pen {m['versions']['cpen']}; {m['versions']['wrk']}  ",
         f"Run: `{meta['command']}` — {meta['reps']} interleaved reps of {meta['duration']:g} s "
         f"per workload per balancer, fresh balancer process per rep, unpinned. "
         f"Figures are medians (min-max); ratios are to C pen in the same run.", ""]
    if meta.get("notes"):
        L += ["Notes:", ""] + [f"- {n}" for n in meta["notes"]] + [""]
    L += ["## Targets (issue 16)", "", "| target | measured | met | note |", "|---|---:|:-:|---|"]
    L += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in targets(summ, idle)]
    L += [""]
    for w, per in summ.items():
        key, unit, cpukey, cpuunit = HEADLINE[w]
        conns, extra, path = WORKLOADS[w]
        L += [f"## {w}: `wrk -t2 -c{conns} {' '.join(repr(x) if ' ' in x else x for x in extra)}"
              f" {path}`".replace("  ", " "), "",
              f"| balancer | {unit} | ratio | p50 ms | p99 ms | p99 ratio | {cpuunit} | "
              f"CPU ratio | CPU % | user share of CPU % | peak RSS MiB | reps ok |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for b, d in per.items():
            if key not in d:
                L.append(f"| {b} | rejected | | | | | | | | | | 0/{d['rejected']} |")
                continue
            r = d["ratio"]

            def mm(k: str) -> str:
                x = d[k]
                return f"{fmt(x['median'])} ({fmt(x['min'])}-{fmt(x['max'])})"
            L.append(
                f"| {b} | {mm(key)} | {r.get(key, float('nan')):.2f} | {fmt(d['p50_ms']['median'])}"
                f" | {fmt(d['p99_ms']['median'])} | {r.get('p99_ms', float('nan')):.2f} | "
                f"{mm(cpukey)} | {r.get(cpukey, float('nan')):.2f} | "
                f"{fmt(d['cpu_pct']['median'])} | {fmt(d['cpu_user_pct_of_cpu']['median'])} | "
                f"{d['peak_rss_kib']['median'] / 1024:.1f} | "
                f"{d['reps']}/{d['reps'] + d['rejected']} |")
        L.append("")
    # CPU per connection by worker count: the trend for bigger machines
    close = summ.get("close", {})
    order = ["penha", *sorted(k for k in close if k.startswith("penha-w")),
             "penhac", *sorted(k for k in close if k.startswith("penhac-w"))]
    wrows = [(b, close[b]) for b in order if b in close and "cpu_us_per_req" in close[b]]
    if wrows:
        L += ["## CPU per new connection, 1 and N worker processes", "",
              "From the close workload above (balancer CPU: user + system of every process).", "",
              "| pen-ha | workers | new conn/s | µs CPU per connection | user µs | system µs |",
              "|---|---:|---:|---:|---:|---:|"]
        for b, d in wrows:
            cpu = d["cpu_us_per_req"]["median"]
            user = cpu * d["cpu_user_pct_of_cpu"]["median"] / 100
            n = worker_count(b)
            L.append(f"| {b} | {n} | {fmt(d['req_s']['median'])} | {cpu:.1f} | {user:.1f} | "
                     f"{cpu - user:.1f} |")
        L.append("")
    # start-up and control port
    L += ["## Start-up and control port", "",
          "Start-up: from spawn to the first complete proxied response (median over all runs). "
          "Control round trip: a raw TCP client sends `pid\\n` to the control port (-C) every "
          "100 ms and reads to EOF, during the keep-alive workload.", "",
          "| balancer | start-up to listening ms | start-up to first response ms | "
          "control RTT p50 ms | control RTT p99 ms |", "|---|---:|---:|---:|---:|"]
    for b in meta["balancers"]:
        rs = [r for r in runs if r["balancer"] == b and r.get("start_connect_ms")]
        if not rs:
            continue
        sc = statistics.median(r["start_connect_ms"] for r in rs)
        sf = statistics.median(r["start_first_response_ms"] for r in rs)
        d = summ.get("keepalive", {}).get(b, {})
        c50 = d.get("control_rtt_p50_ms")
        c99 = d.get("control_rtt_p99_ms")
        L.append(f"| {b} | {sc:.1f} | {sf:.1f} | {'-' if c50 is None else f'{c50:.2f}'} | "
                 f"{'-' if c99 is None else f'{c99:.2f}'} |")
    L.append("")
    if idle:
        L += [f"## Idle connections: resident memory", "",
              "RSS delta per connection; C pen allocates its whole connection table (-x) at "
              "start, so its delta is ~0 and the absolute RSS is the fairer comparison.", "",
              "| balancer | connections | RSS before MiB | RSS after MiB | KiB per connection |"
              " RSS after / connections KiB | still serving |", "|---|---:|---:|---:|---:|---:|:-:|"]
        for i in idle:
            L.append(f"| {i['balancer']} | {i['connections']:,} | {i['base_rss_kib'] / 1024:.1f}"
                     f" | {i['rss_kib'] / 1024:.1f} | {i['kib_per_conn']:.2f} | "
                     f"{i['rss_kib'] / i['connections']:.2f} | "
                     f"{'yes' if i['still_serving'] else 'NO'} |")
        L.append("")
    rej = [r for r in runs if r["rejected"]]
    if rej:
        L += ["## Rejected runs", ""]
        L += [f"- {r['balancer']} {r['workload']}: {'; '.join(r['rejected'])}" for r in rej]
        L.append("")
    L += ["## Exact commands", "", "```"]
    seen = set()
    for r in runs:
        for c in (r["cmd"], r["wrk"]):
            c = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", c)
            c = re.sub(r"/tmp/\S+/", "TMP/", c)
            c = re.sub(r"haproxy-\d+\.cfg", "haproxy.cfg", c)
            c = re.sub(r"(sockmap_proto\.py --mode \w+ --workers \d+)(.*)$",   # bare ports
                       lambda m: m[1] + re.sub(r"\d+", "PORT", m[2]), c)
            if c not in seen:
                seen.add(c)
                L.append(c)
    L += ["```", "", "Raw data: results.json next to this run's output in bench/out/. "
          "Where the time goes (py-spy, strace, measured suggestions): bench/PROFILE.md.", ""]
    return "\n".join(L)


def plot(summ: dict, path: Path) -> str | None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib not installed: no PNG"
    groups = []
    for w, per in summ.items():
        key, unit, cpukey, cpuunit = HEADLINE[w]
        groups.append((f"{w}\n{unit}", w, key))
        groups.append((f"{w}\np99\n(lower=better)", w, "p99_ms"))
        groups.append((f"{w}\n{cpuunit}\n(lower=better)", w, cpukey))
    bals = sorted({b for per in summ.values() for b in per}, key=lambda b: (b != "cpen", b))
    fig, ax = plt.subplots(figsize=(max(8, 1.3 * len(groups)), 5))
    width = 0.8 / max(1, len(bals))
    for i, b in enumerate(bals):
        ys = [summ[w].get(b, {}).get("ratio", {}).get(k, 0) for _, w, k in groups]
        ax.bar([g + i * width for g in range(len(groups))], ys, width, label=b)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks([g + width * (len(bals) - 1) / 2 for g in range(len(groups))])
    ax.set_xticklabels([g[0] for g in groups], fontsize=7)
    ax.set_ylabel("ratio to C pen (same run)")
    ax.set_title("pen-ha vs C pen vs HAProxy: medians as ratios to C pen")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


# ---------------------------------------------------------------------------------------------
def raise_nofile(n: int = 200000) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(soft, n)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    ap.add_argument("--quick", action="store_true",
                    help="a ~1-minute smoke run: 1 rep of 3 s, 2,000 idle connections")
    ap.add_argument("--balancers",
                    default="cpen,haproxy,haproxy-t2,penha,penha-w2,penhac,penhac-w2,"
                            "proto-user,proto-user-w2",
                    help="comma list of cpen, haproxy, penha, penha-wN, penhac, penhac-wN "
                         "(compiled: --compiled-tree), penha-alt, penha-alt-wN, penha-peer, "
                         "haproxy-tN (N threads), proto-user, proto-user-wN, proto-sockmap "
                         "(bench/sockmap_proto.py)")
    ap.add_argument("--compiled-tree", type=Path, default=HERE.parent / "build" / "compiled",
                    help="the tree scripts/compile.sh made, for penhac and penhac-wN "
                         "(default build/compiled)")
    ap.add_argument("--alt-tree", type=Path, default=None,
                    help="a source tree holding another pen/ package: run it as 'penha-alt'"
                         " (side by side with penha, to measure a change)")
    ap.add_argument("--workloads", default="keepalive,close,bulk")
    ap.add_argument("--idle", type=int, default=10000,
                    help="idle connections for the memory test (0 = skip)")
    ap.add_argument("--no-control", action="store_true",
                    help="do not probe the control port during keep-alive")
    ap.add_argument("--out", type=Path, default=None, help="output dir (default bench/out/TS)")
    ap.add_argument("--results-md", type=Path, default=None,
                    help="also write the table here (default bench/RESULTS.md for a full run, "
                         "nowhere for --quick; '-' = nowhere)")
    ap.add_argument("--render", type=Path, default=None, metavar="RESULTS_JSON",
                    help="only re-render RESULTS.md and ratios.png from a results.json")
    a = ap.parse_args(argv)
    if a.render is not None:
        data = json.loads(a.render.read_text())
        out = a.render.parent
        plot(data["summary"], out / "ratios.png")
        md = markdown(data["meta"], data["summary"], data["idle"], data["runs"])
        (out / "RESULTS.md").write_text(md)
        if a.results_md is not None and str(a.results_md) != "-":
            a.results_md.write_text(md)
            shutil.copy(out / "ratios.png", a.results_md.parent / "ratios.png")
        print(md)
        return 0
    if a.results_md is None:
        a.results_md = Path("-") if a.quick else HERE / "RESULTS.md"
    if a.quick:
        a.reps, a.duration, a.idle = 1, 3.0, min(a.idle, 2000)
    balancers = [b for b in a.balancers.split(",") if b]
    workloads = [w for w in a.workloads.split(",") if w]
    for w in workloads:
        if w not in WORKLOADS:
            ap.error(f"unknown workload {w!r}; known: {', '.join(WORKLOADS)}")
    for tool in (NGINX, WRK):
        if not Path(tool).exists():
            ap.error(f"{tool} missing: run bench/run (it installs nginx-light, wrk, pen, haproxy)")
    notes: list[str] = []
    if a.alt_tree is not None:
        if not (a.alt_tree / "pen" / "cli.py").exists():
            ap.error(f"--alt-tree {a.alt_tree}: no pen/cli.py there")
        os.environ["PEN_BENCH_ALT_TREE"] = str(a.alt_tree.resolve())
        if not any(b.startswith("penha-alt") for b in balancers):
            balancers.append("penha-alt")
        notes.append(f"penha-alt is pen-ha from {a.alt_tree.resolve()}")
    elif any(b.startswith("penha-alt") for b in balancers):
        ap.error("penha-alt needs --alt-tree DIR")
    if any(b.startswith("penhac") for b in balancers):
        if not (a.compiled_tree / "pen" / "cli.py").exists():
            notes.append(f"penhac skipped: no compiled tree in {a.compiled_tree} "
                         "(bash scripts/compile.sh makes it)")
            balancers = [b for b in balancers if not b.startswith("penhac")]
    if any(b.startswith("penhac") for b in balancers):
        os.environ["PEN_BENCH_COMPILED_TREE"] = str(a.compiled_tree.resolve())
        source = a.compiled_tree / "SOURCE"
        notes.append(f"penhac is pen-ha with its hot path compiled by scripts/compile.sh "
                     f"({a.compiled_tree.resolve()}, from commit "
                     f"{source.read_text().strip() if source.exists() else 'unknown'})")
    if any(worker_count(b) > 1 for b in balancers):
        why = workers_supported()
        if why:
            notes.append(f"pen-ha --workers skipped: pen rejects it ({why})")
            balancers = [b for b in balancers if worker_count(b) == 1]
    for b, exe in (("cpen", C_PEN), ("haproxy", HAPROXY), ("penha", str(VENV_PEN))):
        if b in balancers and not Path(exe).exists():
            notes.append(f"{b} skipped: {exe} missing")
            balancers.remove(b)
    if not Path(HAPROXY).exists():
        for b in [b for b in balancers if b.startswith("haproxy-t")]:
            notes.append(f"{b} skipped: {HAPROXY} missing")
            balancers.remove(b)
    raise_nofile()
    if any(b.startswith("penha") for b in balancers):
        notes.append(byte_compile([ROOT / "pen", *([os.environ["PEN_BENCH_COMPILED_TREE"]]
                                                  if "PEN_BENCH_COMPILED_TREE" in os.environ
                                                  else [])]))
    ts = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = a.out or HERE / "out" / ts
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="pen-bench-"))
    tmp.chmod(0o755)                   # nginx's worker runs as www-data
    lua = tmp / "done.lua"
    lua.write_text(WRK_LUA)
    meta = {"date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "machine": machine_facts(), "reps": a.reps, "duration": a.duration,
            "balancers": balancers, "workloads": workloads, "notes": notes,
            "command": "python3 bench/bench.py " + " ".join(argv if argv is not None
                                                            else sys.argv[1:])}
    print(f"bench: output in {out}; balancers {balancers}; workloads {workloads}; "
          f"{a.reps} reps x {a.duration:g} s", flush=True)
    for n in notes:
        print("bench: note:", n, flush=True)
    backends = Backends(tmp)
    runs: list[dict] = []
    idle: list[dict] = []
    try:
        backends.start()
        for rep in range(a.reps):
            for w in workloads:
                # rotate the order each rep so no balancer always runs first or last
                order = balancers[rep % len(balancers):] + balancers[:rep % len(balancers)]
                for b in order:
                    try:
                        r = measure(b, w, tmp, backends.ports, a.duration, lua,
                                    control=(w == "keepalive" and not a.no_control))
                    except Exception as e:      # one broken balancer must not lose the run
                        print(f"bench: {b} {w} rep {rep + 1} FAILED: {e}", flush=True)
                        runs.append({"balancer": b, "workload": w, "rejected": [str(e)],
                                     "cmd": "", "wrk": "", "start_connect_ms": 0,
                                     "start_first_response_ms": 0})
                        continue
                    runs.append(r)
                    key = HEADLINE[w][0]
                    print(f"bench: rep {rep + 1} {w:9} {b:10} {r[key]:10.1f} {HEADLINE[w][1]:10}"
                          f" p99 {r['p99_ms']:7.2f} ms  cpu {r[HEADLINE[w][2]]:8.1f} "
                          f"{HEADLINE[w][3]}  {'REJECTED ' + '; '.join(r['rejected']) if r['rejected'] else ''}",
                          flush=True)
        if a.idle:
            n_idle = idle_capacity(a.idle, spare=300)   # room for haproxy's probe connection
            if n_idle < a.idle:
                notes.append(f"idle-memory test with {n_idle:,} connections, not {a.idle:,}: "
                             f"the hard RLIMIT_NOFILE is "
                             f"{resource.getrlimit(resource.RLIMIT_NOFILE)[1]} and cannot be "
                             f"raised here (two descriptors per proxied connection)")
                a.idle = n_idle
            for b in balancers:
                if worker_count(b) > 1:
                    continue
                try:
                    i = idle_memory(b, tmp, backends.ports, a.idle)
                    idle.append(i)
                    print(f"bench: idle {b:10} {i['kib_per_conn']:.2f} KiB/conn "
                          f"({a.idle} conns, {i['setup_s']:.1f} s)", flush=True)
                except Exception as e:
                    print(f"bench: idle {b} FAILED: {e}", flush=True)
                    notes.append(f"idle-memory test failed for {b}: {e}")
    finally:
        backends.stop()
    summ = summarise(runs, balancers, workloads)
    data = {"meta": meta, "summary": summ, "idle": idle, "runs": runs,
            "targets": targets(summ, idle)}
    (out / "results.json").write_text(json.dumps(data, indent=1, default=str))
    why = plot(summ, out / "ratios.png")
    if why:
        notes.append(why)
    md = markdown(meta, summ, idle, runs)
    (out / "RESULTS.md").write_text(md)
    if str(a.results_md) != "-":
        a.results_md.write_text(md)
        if (out / "ratios.png").exists():
            shutil.copy(out / "ratios.png", a.results_md.parent / "ratios.png")
    shutil.rmtree(tmp, ignore_errors=True)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
