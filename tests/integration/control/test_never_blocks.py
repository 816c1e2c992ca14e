"""The control port never blocks traffic (C pen froze while a control client was idle: docs/compatibility.md),
and reconfiguration under load loses no connection and no byte."""
from __future__ import annotations

import hashlib
import os
import socket
import threading
import time

import pytest
from support.control import cmd, start_pen

from support.procs import fetch_name, wait_for


def timed_fetches(pen, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.monotonic()
        assert fetch_name(pen) in ("a", "b")
        out.append(time.monotonic() - t)
    return out


def test_idle_slow_and_flooding_control_clients_do_not_delay_traffic(tmp_path, backends) -> None:
    a, b = backends("name", "a", "b")
    pen, path = start_pen(tmp_path, a.addr, b.addr)
    baseline = timed_fetches(pen, 20)
    stop = threading.Event()
    silent = socket.socket(socket.AF_UNIX)
    silent.connect(path)
    opened = time.monotonic()

    def trickle() -> None:
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(path)
            try:
                while not stop.is_set():
                    s.send(b"p")
                    stop.wait(1.0)
            except OSError:
                pass

    def flood() -> None:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(path)
            try:
                s.sendall(os.urandom(1 << 20))
            except OSError:
                pass

    threads = [threading.Thread(target=trickle), threading.Thread(target=flood)]
    for t in threads:
        t.start()
    during = timed_fetches(pen, 50)
    print(f"fetch latency: baseline max {max(baseline) * 1000:.1f} ms, "
          f"with idle/slow/flooding control clients max {max(during) * 1000:.1f} ms")
    assert max(during) < 0.5, during
    assert sum(during) / len(during) < max(0.05, 5 * sum(baseline) / len(baseline))
    # the silent client is closed after the deadline, and the port still answers
    silent.settimeout(15)
    assert silent.recv(100) == b""
    assert time.monotonic() - opened < 10
    silent.close()
    stop.set()
    for t in threads:
        t.join(15)
    assert cmd(path, "pid") == f"{pen.proc.pid}\n"
    pen.stop()


@pytest.mark.slow
def test_reconfiguration_under_load_loses_nothing(tmp_path, backends) -> None:
    echo = backends("echo", "e0", "e1", "e2", "e3")
    pen, path = start_pen(tmp_path, echo[0].addr, echo[1].addr, echo[2].addr)
    size, nconn = 256 * 1024, 100
    results: dict[int, str] = {}
    started = threading.Barrier(nconn + 1, timeout=30)

    def client(i: int) -> None:
        payload = os.urandom(size)
        try:
            with pen.connect(timeout=30) as s:
                started.wait()
                got = bytearray()
                sent = 0
                s.setblocking(True)
                while sent < size:
                    sent += s.send(payload[sent:sent + 16384])
                    time.sleep(0.002)
                    s.settimeout(0.0)
                    try:
                        while chunk := s.recv(65536):
                            got += chunk
                    except BlockingIOError:
                        pass
                    s.settimeout(30)
                s.shutdown(socket.SHUT_WR)
                while chunk := s.recv(65536):
                    got += chunk
            results[i] = "ok" if hashlib.sha256(got).digest() == hashlib.sha256(payload).digest() \
                else f"corrupt: {len(got)} bytes"
        except Exception as e:          # noqa: BLE001  (recorded and asserted below)
            results[i] = f"error: {e!r}"

    threads = [threading.Thread(target=client, args=(i,)) for i in range(nconn)]
    for t in threads:
        t.start()
    started.wait()
    reconfig = [f"server 3 address 127.0.0.1 port {echo[3].port}", "server 3 weight 4",
                "weight", "server 1 blacklist 60", "server 0 weight 2", "roundrobin", "hash",
                "no hash", "prio", "server 2 prio 1", "no prio", "no weight",
                "server 0 address 0.0.0.0 port 0", "server 1 blacklist 0", "stubborn",
                "no stubborn", "no roundrobin", f"server 0 address 127.0.0.1 port {echo[0].port}",
                "server 2 max 50 hard 60"]
    for line in reconfig:
        reply = cmd(path, line)
        assert not reply.startswith("error"), (line, reply)
        # new connections keep working while the configuration changes
        with pen.connect(timeout=10) as s:
            s.sendall(b"ping")
            s.shutdown(socket.SHUT_WR)
            assert s.recv(100) == b"ping", line
    for t in threads:
        t.join(120)
    bad = {i: r for i, r in results.items() if r != "ok"}
    assert len(results) == nconn and not bad, bad
    wait_for(lambda: all(" conn 0 " in line for line in cmd(path, "servers").splitlines()),
             10, what="all connections closed")
    pen.stop()
