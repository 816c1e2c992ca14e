"""Helpers for tests/reliability: process figures from /proc, a switchable faulty backend,
a checksummed load generator, and the one-line summaries every reliability test prints."""
from __future__ import annotations

import asyncio
import hashlib
import os
import random
import select
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

FAULTY = Path(__file__).resolve().parents[1] / "reliability" / "faulty_backend.py"


# -- /proc figures ------------------------------------------------------------------------------
def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def status_kib(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def rss_mib(pid: int) -> float:
    return status_kib(pid, "VmRSS") / 1024


def peak_rss_mib(pid: int) -> float:
    return status_kib(pid, "VmHWM") / 1024


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_over(pid: int, seconds: float) -> float:
    """CPU seconds the process used over `seconds` of wall time."""
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return cpu_seconds(pid) - before


def settle(pid: int, target: int, timeout: float = 15.0) -> int:
    """Wait until pen's descriptor count is back to `target` (or the deadline); return it."""
    deadline = time.monotonic() + timeout
    n = fds(pid)
    while n > target and time.monotonic() < deadline:
        time.sleep(0.05)
        n = fds(pid)
    return n


def raise_nofile(n: int) -> None:
    """Raise this process's descriptor limit (root may raise the hard limit too)."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, max(hard, n)))


# -- a backend whose behaviour the test switches ------------------------------------------------
class FaultyBackend:
    """tests/reliability/faulty_backend.py: kill, restart on the same port, stop, cont, modes."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.proc: subprocess.Popen | None = None
        self.stopped = False
        self.start()

    def start(self) -> None:
        deadline = time.monotonic() + 10
        while True:
            self.proc = subprocess.Popen([sys.executable, str(FAULTY), str(self.port)],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            ready, _, _ = select.select([self.proc.stdout], [], [], 10)
            line = self.proc.stdout.readline() if ready else ""
            if line.startswith("READY"):
                self.port = int(line.split()[1])
                self.addr = f"127.0.0.1:{self.port}"
                return
            self.proc.kill()
            self.proc.wait(5)
            if time.monotonic() > deadline:       # the port was taken meanwhile
                raise RuntimeError(f"faulty backend did not start on {self.port}: {line!r}")
            time.sleep(0.1)

    def mode(self, word: str) -> None:
        assert self.proc is not None
        self.proc.stdin.write(word + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], 5)
        assert ready and self.proc.stdout.readline().strip() == f"MODE {word}"

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            if self.stopped:
                self.cont()
            self.proc.kill()
            self.proc.wait(5)
            for f in (self.proc.stdin, self.proc.stdout):
                f.close()

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)
        self.stopped = True

    def cont(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)
        self.stopped = False

    def restart(self) -> None:
        self.kill()
        self.start()


# -- the load: checksummed random data, every byte checked ---------------------------------------
@dataclass(slots=True)
class LoadStats:
    connections: int = 0
    complete: int = 0            # every byte came back, in order, then EOF
    clean_failures: int = 0      # a prefix came back, then EOF or reset: never anything else
    refused: int = 0             # pen was not reachable at all (connect failed)
    corrupt: int = 0             # data that is not a prefix of what was sent
    hung: int = 0                # neither finished nor failed within the per-connection limit
    bytes_verified: int = 0
    examples: list[str] = field(default_factory=list)

    def violations(self) -> int:
        return self.corrupt + self.hung


def payload(rng: random.Random, conn_id: int, low: int, high: int) -> bytes:
    """Random data with the connection's id and its own digest in the first 48 bytes, so a
    mixed-up stream cannot pass as another connection's."""
    body = rng.randbytes(rng.randint(low, high))
    head = conn_id.to_bytes(8, "big") + len(body).to_bytes(8, "big")
    return head + hashlib.sha256(body).digest() + body


async def one_connection(host: str, port: int, data: bytes, st: LoadStats, limit: float) -> None:
    st.connections += 1
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), limit)
    except (OSError, asyncio.TimeoutError):
        st.refused += 1
        return
    got = bytearray()

    async def send() -> None:
        try:
            view = memoryview(data)
            for i in range(0, len(data), 65536):
                writer.write(view[i:i + 65536])
                await writer.drain()
            writer.write_eof()
        except (OSError, RuntimeError):
            pass

    async def receive() -> None:
        while True:
            chunk = await reader.read(262144)
            if not chunk:
                return
            got.extend(chunk)
            if len(got) > len(data):
                return

    sender = asyncio.ensure_future(send())
    failed = False
    try:
        await asyncio.wait_for(receive(), limit)
    except asyncio.TimeoutError:
        st.hung += 1
        failed = None
    except OSError:
        failed = True
    finally:
        sender.cancel()
        writer.transport.abort()
    if failed is None:
        return
    if bytes(got) == data:
        st.complete += 1
        st.bytes_verified += len(got)
    elif data.startswith(got):
        st.clean_failures += 1
        st.bytes_verified += len(got)
    else:
        st.corrupt += 1
        if len(st.examples) < 3:
            at = next((i for i, (a, b) in enumerate(zip(got, data)) if a != b), len(data))
            st.examples.append(f"{len(got)} bytes back of {len(data)}, first difference at {at}")


async def run_load(host: str, port: int, workers: int, duration: float, seed: int,
                   low: int = 4096, high: int = 65536, limit: float = 30.0,
                   started: asyncio.Event | None = None) -> LoadStats:
    """`workers` clients, each opening connection after connection until `duration` is over."""
    st = LoadStats()
    deadline = time.monotonic() + duration
    ids = iter(range(1 << 62))

    async def worker(n: int) -> None:
        rng = random.Random(seed * 100003 + n)
        while time.monotonic() < deadline:
            await one_connection(host, port, payload(rng, next(ids), low, high), st, limit)

    await asyncio.gather(*(worker(n) for n in range(workers)))
    return st


def summary_line(name: str, **figures: object) -> str:
    return f"SUMMARY {name}: " + " ".join(f"{k}={v}" for k, v in figures.items())


@pytest.fixture
def summary(record_property, request):
    """summary(**figures): print the test's one summary line and attach it to the report
    (the terminal summary below shows every such line at the end of a run)."""
    def report(**figures: object) -> str:
        line = summary_line(request.node.name, **figures)
        print(line)
        record_property("summary", line)
        return line
    return report


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """Every SUMMARY line of the run, at a glance (wired in tests/reliability and tests/fuzz
    conftests; with xdist only the controller's conftests print, see docs/security.md)."""
    if getattr(config, "_pen_figures_shown", False):      # both conftests import this hook
        return
    config._pen_figures_shown = True
    lines = []
    for reports in terminalreporter.stats.values():
        for rep in reports:
            for key, value in getattr(rep, "user_properties", ()):
                if key == "summary" and getattr(rep, "when", "") == "call":
                    lines.append(value)
    if lines:
        terminalreporter.section("reliability and fuzzing figures")
        for line in sorted(set(lines)):
            terminalreporter.write_line(line)


def client_socket(host: str, port: int, timeout: float = 5.0) -> socket.socket:
    s = socket.create_connection((host, port), timeout=timeout)
    return s
