"""Test support for the data-plane features (issue 11): a peer-address backend, and
network-namespace labs with veth pairs and TEST-NET addresses (the GeoIP database writers are
in support.geoip).

`python -m support.dataplane peer HOST PORT` (PYTHONPATH=tests) runs a backend that answers
every connection with `peer ADDR PORT\\n` (the source address it saw), then echoes until EOF.
"""
from __future__ import annotations

import contextlib
import itertools
import os
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support.procs import PEN, PENCTL, TESTS, start_ready, stop_process, wait_for


# -- a backend that tells who connected -----------------------------------------------------------
def serve(mode: str, host: str, port: int) -> None:
    """Modes: `peer` greets with `peer ADDR PORT` and echoes; `late` greets `hello`, reads to
    EOF, waits 0.3 s, sends `late` and closes; `halfclose` greets `bye`, shuts down its
    sending side and reads until EOF."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    if mode == "udppeer":                 # each datagram: `peer ADDR PORT` back to its sender
        udp = socket.socket(family, socket.SOCK_DGRAM)
        udp.bind((host, port))
        print(f"READY {udp.getsockname()[1]}", flush=True)
        while True:
            _, addr = udp.recvfrom(65536)
            udp.sendto(f"peer {addr[0]} {addr[1]}\n".encode(), addr)
    srv = socket.socket(family)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, port))
    srv.listen(128)
    print(f"READY {srv.getsockname()[1]}", flush=True)

    def handle(conn: socket.socket, addr: tuple) -> None:
        with conn:
            try:
                if mode == "peer":
                    name = os.environ.get("BACKEND_NAME", "")
                    conn.sendall(f"peer {addr[0]} {addr[1]} {name}".strip().encode() + b"\n")
                    while data := conn.recv(65536):
                        conn.sendall(data)
                elif mode == "late":
                    conn.sendall(b"hello\n")
                    while conn.recv(65536):
                        pass
                    time.sleep(0.3)
                    conn.sendall(b"late\n")
                else:
                    conn.sendall(b"bye\n")
                    conn.shutdown(socket.SHUT_WR)
                    while conn.recv(65536):
                        pass
            except OSError:
                pass

    while True:
        conn, addr = srv.accept()
        threading.Thread(target=handle, args=(conn, addr), daemon=True).start()


class LocalBackend:
    """A `serve` backend on 127.0.0.1 (port 0) in this namespace."""

    def __init__(self, mode: str, host: str = "127.0.0.1") -> None:
        self.proc, self.port = start_ready(
            [sys.executable, "-m", "support.dataplane", mode, host, "0"], f"backend {mode}")
        self.addr = f"{host}:{self.port}"

    def stop(self) -> None:
        stop_process(self.proc, kill=True)


def read_line(sock: socket.socket, limit: int = 4096) -> str:
    data = b""
    while not data.endswith(b"\n") and len(data) < limit:
        chunk = sock.recv(1)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace").strip()




# -- network namespaces ----------------------------------------------------------------------------
_counter = itertools.count(1)


def run(*argv: str, check: bool = True, timeout: float = 10) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), check=check, capture_output=True, text=True, timeout=timeout)


@dataclass
class Lab:
    """Namespaces, links and processes of one test; `close()` removes all of it."""

    tag: str = field(default_factory=lambda: f"dp{os.getpid() % 100000}x{next(_counter)}")
    namespaces: list[str] = field(default_factory=list)
    procs: list[subprocess.Popen] = field(default_factory=list)
    files: list[Any] = field(default_factory=list)

    def ns(self, role: str) -> str:
        name = f"{self.tag}{role}"
        run("ip", "netns", "add", name)
        self.namespaces.append(name)
        self.sh(name, "ip link set lo up")
        return name

    def sh(self, ns: str, command: str, check: bool = True) -> subprocess.CompletedProcess:
        return run("ip", "netns", "exec", ns, "sh", "-c", command, check=check)

    def veth(self, ns_a: str, if_a: str, ns_b: str, if_b: str) -> None:
        """A veth pair between two namespaces (created in ns_a, one end moved to ns_b)."""
        tmp = f"{self.tag}t{next(_counter)}"[:15]
        self.sh(ns_a, f"ip link add {if_a} type veth peer name {tmp}")
        self.sh(ns_a, f"ip link set {tmp} netns {ns_b}")
        self.sh(ns_b, f"ip link set {tmp} name {if_b} && ip link set {if_b} up")
        self.sh(ns_a, f"ip link set {if_a} up")

    def syn_black_hole(self, ns: str, addr: str = "198.51.100.99") -> None:
        """`addr` in ns, reached over a veth to a sink namespace, silently drops every SYN: a
        static neighbour entry with a MAC nobody owns."""
        sink = self.ns("x")
        self.veth(ns, "eth1", sink, "eth0")
        self.sh(ns, f"ip addr add 198.51.100.1/24 dev eth1 && ip neigh add {addr}"
                    " lladdr 02:00:00:00:00:99 dev eth1 nud permanent")

    def spawn(self, ns: str, argv: list[str], log: Path | None = None,
              env: dict | None = None) -> subprocess.Popen:
        out = open(log, "w+") if log else subprocess.DEVNULL
        if log:
            self.files.append(out)
        proc = subprocess.Popen(["ip", "netns", "exec", ns, *argv], stdout=out,
                                stderr=subprocess.STDOUT, env=env)
        self.procs.append(proc)
        return proc

    def peer_backend(self, ns: str, host: str, port: int, name: str = "",
                     mode: str = "peer") -> subprocess.Popen:
        """The peer-address backend in a namespace; returns once it listens."""
        env = dict(os.environ, PYTHONPATH=str(TESTS), BACKEND_NAME=name)
        proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-m",
                                 "support.dataplane", mode, host, str(port)],
                                stdout=subprocess.PIPE, env=env, text=True)
        self.procs.append(proc)
        ready, _, _ = select.select([proc.stdout], [], [], 10)
        line = proc.stdout.readline() if ready else ""
        if not line.startswith("READY"):
            raise RuntimeError(f"peer backend did not start in {ns}: {line!r}")
        return proc

    def pen(self, ns: str, args: list[str], workdir: Path, timeout: float = 10) -> subprocess.Popen:
        """Our pen in the foreground in a namespace; returns once it reported READY=1."""
        notify_path = workdir / f"notify-{next(_counter)}.sock"
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(str(notify_path))
        self.files.append(notify)
        env = dict(os.environ, NOTIFY_SOCKET=str(notify_path))
        for var in ("LISTEN_FDS", "LISTEN_PID"):
            env.pop(var, None)
        log = workdir / f"pen-{ns}.log"
        proc = self.spawn(ns, [str(PEN), "-f", *args], log=log, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"pen exited with {proc.returncode}: {log.read_text()}")
            ready, _, _ = select.select([notify], [], [], 0.05)
            if ready and b"READY=1" in notify.recv(4096):
                return proc
        raise TimeoutError(f"pen not ready in {ns}: {log.read_text()}")

    def penctl(self, ns: str, control: str, *command: str) -> str:
        return run("ip", "netns", "exec", ns, str(PENCTL), control, *command).stdout

    def client(self, ns: str, code: str, timeout: float = 20) -> str:
        """Run a small Python client in a namespace; returns its stdout."""
        res = run("ip", "netns", "exec", ns, sys.executable, "-c", code, check=False,
                  timeout=timeout)
        if res.returncode != 0:
            raise AssertionError(f"client in {ns} failed: {res.stderr.strip()}")
        return res.stdout.strip()

    def capture(self, ns: str, iface: str, bpf: str, log: Path) -> subprocess.Popen:
        """tcpdump (link-level headers, absolute sequence numbers) in a namespace, returned
        once it is capturing."""
        proc = self.spawn(ns, ["tcpdump", "-i", iface, "-n", "-e", "-S", "-l", "-U", bpf],
                          log=log)
        wait_for(lambda: "listening on" in log.read_text() or proc.poll() is not None, 10,
                 what="tcpdump")
        if proc.poll() is not None:
            raise RuntimeError(f"tcpdump failed: {log.read_text()}")
        return proc

    def mac(self, ns: str, iface: str) -> str:
        return self.sh(ns, f"cat /sys/class/net/{iface}/address").stdout.strip()

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            if proc.stdout:
                proc.stdout.close()
        for f in self.files:
            f.close()
        for name in reversed(self.namespaces):
            run("ip", "netns", "del", name, check=False)


@contextlib.contextmanager
def lab() -> Iterator[Lab]:
    the_lab = Lab()
    try:
        yield the_lab
    finally:
        the_lab.close()


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] in ("peer", "late", "halfclose", "udppeer"):
        try:
            serve(sys.argv[1], sys.argv[2], int(sys.argv[3]))
        except KeyboardInterrupt:
            pass
    else:
        sys.exit("usage: python -m support.dataplane peer|late|halfclose|udppeer HOST PORT")
