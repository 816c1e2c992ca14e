"""Load with faults (issue 10): 500 concurrent clients stream checksummed random data through
pen while its backends are killed, restarted, stopped (SIGSTOP), made to reset connections and
made to accept and close at once.  Every connection completes byte-identical or fails cleanly
(a prefix, then a close or reset); afterwards pen's descriptors and memory are back at their
baseline.  Also: HUP (reload) and USR1 (statistics) under the same load lose nothing."""
from __future__ import annotations

import asyncio
import random
import signal
import time

import pytest
from support.control import cmd, start_pen
from support.reliability import (FaultyBackend, cpu_seconds, peak_rss_mib, rss_mib, run_load,
                                 settle)

WORKERS = 500
DURATION = 20.0


def start(tmp_path, n: int, opts: list[str]):
    bes = [FaultyBackend() for _ in range(n)]
    pen, ctl = start_pen(tmp_path, *(b.addr for b in bes),
                         opts=["-x", "2000", "-c", "4096", "-b", "1", "-t", "2", "-q", "1024",
                               *opts])
    return bes, pen, ctl


def warm_up(pen) -> tuple[int, float]:
    """A short round first, so buffers and tables exist; then the baseline."""
    st = asyncio.run(run_load(pen.host, pen.port, 50, 1.0, seed=1))
    assert st.complete > 0 and st.violations() == 0, st
    base_fds = settle(pen.proc.pid, 0, timeout=0.5)
    return base_fds, rss_mib(pen.proc.pid)


def inject(bes: list[FaultyBackend], duration: float, seed: int) -> dict[str, int]:
    """One fault about every 0.6 s, each on a random backend, undone before the next.  Runs in
    its own thread: the test's event loop is busy with the clients."""
    rng = random.Random(seed)
    counts = {"kill": 0, "stop": 0, "reset": 0, "close": 0}
    deadline = time.monotonic() + duration - 1.0
    time.sleep(0.5)
    kinds = list(counts)
    while time.monotonic() < deadline:
        kind = kinds[sum(counts.values()) % len(kinds)]
        b = rng.choice(bes)
        counts[kind] += 1
        if kind == "kill":
            b.kill()
            time.sleep(0.3)
            b.start()
        elif kind == "stop":
            b.stop()
            time.sleep(0.8)
            b.cont()
        else:
            b.mode(kind)
            time.sleep(0.3)
            b.mode("echo")
        time.sleep(0.2)
    return counts


def finish(pen, ctl, base_fds: int, base_rss: float, st, summary, **extra) -> None:
    pid = pen.proc.pid
    after_fds = settle(pid, base_fds)
    rss = rss_mib(pid)
    try:
        state = cmd(ctl, "server_state")
    except OSError as e:
        import subprocess
        dump = subprocess.run(["py-spy", "dump", "--pid", str(pid)], capture_output=True, text=True)
        raise AssertionError(f"control port: {e}\n{dump.stdout}\n{pen.errors()[-3000:]}")
    summary(connections=st.connections, complete=st.complete, clean_failures=st.clean_failures,
            refused=st.refused, corrupt=st.corrupt, hung=st.hung,
            bytes_verified=st.bytes_verified, **extra, fds_base=base_fds, fds_after=after_fds,
            rss_base_mib=f"{base_rss:.1f}", rss_after_mib=f"{rss:.1f}",
            peak_rss_mib=f"{peak_rss_mib(pid):.1f}", cpu_s=f"{cpu_seconds(pid):.1f}")
    assert st.corrupt == 0, st.examples
    assert st.hung == 0
    assert st.complete > st.connections // 2, st
    assert pen.proc.poll() is None, pen.errors()
    assert after_fds <= base_fds, f"descriptors leaked: {base_fds} -> {after_fds}"
    assert rss < base_rss + 64, f"memory did not come back: {base_rss:.1f} -> {rss:.1f} MiB"
    for line in state.splitlines():        # no connection or pending connect left behind
        assert " conn 0 pending 0 " in line, state
    assert "internal error" not in pen.errors(), pen.errors()[-3000:]


@pytest.mark.slow
def test_500_clients_survive_backend_faults(tmp_path, summary) -> None:
    bes, pen, ctl = start(tmp_path, 3, [])
    try:
        base_fds, base_rss = warm_up(pen)

        async def main():
            faults = asyncio.get_running_loop().run_in_executor(None, inject, bes, DURATION, 7)
            st = await run_load(pen.host, pen.port, WORKERS, DURATION, seed=2)
            return st, await faults

        st, counts = asyncio.run(main())
        for b in bes:
            if b.stopped:
                b.cont()
        finish(pen, ctl, base_fds, base_rss, st, summary, faults=sum(counts.values()),
               **{f"faults_{k}": v for k, v in counts.items()})
        assert min(counts.values()) >= 3, counts
    finally:
        pen.stop()
        for b in bes:
            b.kill()


@pytest.mark.slow
def test_hup_and_usr1_under_load_lose_nothing(tmp_path, summary) -> None:
    """-F reloaded and statistics written ten times each while 500 clients stream data."""
    cfg = tmp_path / "pen.cfg"
    cfg.write_text("blacklist 1\ntimeout 2\n")
    ws = tmp_path / "ws.html"
    bes, pen, ctl = start(tmp_path, 2, ["-F", str(cfg), "-w", str(ws)])
    try:
        base_fds, base_rss = warm_up(pen)
        sent = {"hup": 0, "usr1": 0}

        async def signals() -> None:
            await asyncio.sleep(1.0)
            for i in range(20):
                if i % 2:
                    cfg.write_text(f"blacklist 1\ntimeout {2 + i % 3}\n")
                    pen.signal(signal.SIGHUP)
                    sent["hup"] += 1
                else:
                    pen.signal(signal.SIGUSR1)
                    sent["usr1"] += 1
                await asyncio.sleep(0.5)

        async def main():
            sig = asyncio.ensure_future(signals())
            st = await run_load(pen.host, pen.port, WORKERS, 12.0, seed=3)
            await sig
            return st

        st = asyncio.run(main())
        finish(pen, ctl, base_fds, base_rss, st, summary, hups=sent["hup"], usr1s=sent["usr1"])
        assert st.complete == st.connections, st          # no faults: every one completes
        assert ws.read_text().startswith("<html>")
        assert cmd(ctl, "timeout") in {f"{2 + i % 3}\n" for i in range(1, 20, 2)}
    finally:
        pen.stop()
        for b in bes:
            b.kill()
