#!/usr/bin/env python3
"""How the kernel spreads one client address's connections over worker processes.

Two ways for N workers to serve one listening address (docs/architecture.md "Workers"):
`reuseport` (each worker its own socket with SO_REUSEPORT: the kernel hashes the 4-tuple) and
`shared` (one socket made before fork, every worker polls it).  Each worker accepts, counts and
closes; one client process opens CONNS connections from 127.0.0.1 (all one address, only the
source port varies), up to PARALLEL at a time.  Prints the share each worker got.

    python3 bench/spread.py [--workers 2] [--conns 4000] [--work-us 50]
"""
from __future__ import annotations

import argparse
import os
import select
import socket
import sys
import time


def listener(reuseport: bool, port: int = 0) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuseport:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(("127.0.0.1", port))
    s.listen(1024)
    s.setblocking(False)
    return s


def worker(sock: socket.socket, out_fd: int, stop_fd: int, work_us: float) -> None:
    ep = select.epoll()
    ep.register(sock.fileno(), select.EPOLLIN)
    ep.register(stop_fd, select.EPOLLIN)
    n = 0
    while True:
        for fd, _ in ep.poll(1.0):
            if fd == stop_fd:
                os.write(out_fd, f"{n}\n".encode())
                os._exit(0)
            for _ in range(16):
                try:
                    c, _ = sock.accept()
                except (BlockingIOError, InterruptedError):
                    break
                n += 1
                end = time.perf_counter() + work_us / 1e6   # the per-connection work of a pen
                while time.perf_counter() < end:
                    pass
                c.close()


def run(mode: str, workers: int, conns: int, work_us: float, parallel: int) -> list[int]:
    first = listener(mode == "reuseport")
    port = first.getsockname()[1]
    socks = [first] + ([listener(True, port) for _ in range(workers - 1)]
                       if mode == "reuseport" else [first] * (workers - 1))
    rfd, wfd = os.pipe()
    stop_r, stop_w = os.pipe()
    pids = []
    for s in socks:
        pid = os.fork()
        if pid == 0:
            os.close(stop_w)
            worker(s, wfd, stop_r, work_us)
        pids.append(pid)
    os.close(stop_r)
    os.close(wfd)
    for s in {id(s): s for s in socks}.values():
        s.close()
    batch: list[socket.socket] = []
    for _ in range(conns):
        batch.append(socket.create_connection(("127.0.0.1", port)))
        if len(batch) >= parallel:
            for c in batch:
                c.recv(1)            # the worker closed it
                c.close()
            batch = []
    for c in batch:
        c.recv(1)
        c.close()
    os.close(stop_w)
    with os.fdopen(rfd) as f:
        counts = [int(line) for line in f.read().split()]
    for pid in pids:
        os.waitpid(pid, 0)
    return sorted(counts, reverse=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--conns", type=int, default=4000)
    ap.add_argument("--work-us", type=float, default=50.0)
    ap.add_argument("--parallel", type=int, default=50)
    a = ap.parse_args()
    for mode in ("reuseport", "shared"):
        counts = run(mode, a.workers, a.conns, a.work_us, a.parallel)
        total = sum(counts) or 1
        shares = " ".join(f"{c / total:.2f}" for c in counts)
        print(f"{mode:10s} workers={a.workers} conns={sum(counts)} shares {shares}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
