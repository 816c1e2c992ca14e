"""A VRRP test lab in network namespaces.

One switch namespace holds a bridge (and is the client / prober at 192.0.2.254);
each node namespace has ``eth0`` (192.0.2.N/24, IPv6 link-local without DAD) plugged
into the bridge.  Names carry the pid and a counter, so ``pytest -n auto`` runs many
labs at once.  Everything started here is stopped by pid and every namespace removed
in ``close()``, which the fixtures call even when a test fails.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyroute2 import IPRoute, netns

from support.procs import wait_for  # noqa: F401  (re-exported for the penvrrp tests)

VIP = "192.0.2.100"
VIP6 = "2001:db8::100"
CLIENT = "192.0.2.254"
PEN = Path(sys.executable).parent / "pen"
PENVRRP = Path(sys.executable).parent / "penvrrp"
KEEPALIVED = "/usr/sbin/keepalived"
_counter = itertools.count(1)


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@dataclass
class Proc:
    """A process started inside a namespace, with its output in a file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    state_file: Path | None = None

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def state(self) -> dict[str, Any] | None:
        """The first instance of a penvrrp state file, or None before it exists."""
        if self.state_file is None:
            return None
        try:
            doc = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None
        return doc["instances"][0] if doc.get("instances") else None

    def states(self) -> dict[str, dict[str, Any]]:
        """Every instance of the state file, by name."""
        if self.state_file is None:
            return {}
        try:
            doc = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}
        return {i["name"]: i for i in doc.get("instances", [])}

    def counters(self) -> dict[str, int]:
        st = self.state()
        return st["counters"] if st else {}

    def wait_state(self, state: str, timeout: float) -> dict[str, Any]:
        return wait_for(lambda: (s := self.state()) and s["state"] == state and s, timeout,
                        what=f"{self.name} to be {state}; log:\n{self.output()[-3000:]}")

    def signal(self, sig: int) -> None:
        if self.alive():
            self.popen.send_signal(sig)

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM, then SIGKILL; always reaped (a zombie still answers kill(pid, 0), so its pidfile looks alive)."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                return self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        return self.kill()

    def kill(self) -> int | None:
        if self.alive():
            self.popen.kill()
        try:
            return self.popen.wait(5)
        except subprocess.TimeoutExpired:
            return None


@dataclass
class Lab:
    tmp: Path
    nodes: int = 2
    tag: str = field(default_factory=lambda: f"{os.getpid()}x{next(_counter)}")
    procs: list[Proc] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)
    _ipr: dict[str, IPRoute] = field(default_factory=dict)

    # -- topology ------------------------------------------------------------------
    @property
    def sw(self) -> str:
        return f"pv{self.tag}sw"

    def ns(self, node: int) -> str:
        return f"pv{self.tag}n{node}"

    def addr(self, node: int) -> str:
        return f"192.0.2.{node}"

    def build(self) -> Lab:
        for name in [self.sw] + [self.ns(i) for i in range(1, self.nodes + 1)]:
            ip("netns", "add", name)
            self.namespaces.append(name)
            ip("-n", name, "link", "set", "lo", "up")
            self._sysctl(name, {"net/ipv6/conf/all/accept_dad": "0", "net/ipv6/conf/default/accept_dad": "0"})
        ip("-n", self.sw, "link", "add", "br0", "type", "bridge")
        ip("-n", self.sw, "addr", "add", f"{CLIENT}/24", "dev", "br0")
        ip("-n", self.sw, "link", "set", "br0", "up")
        for i in range(1, self.nodes + 1):
            ip("-n", self.ns(i), "link", "add", "eth0", "type", "veth", "peer", "name", f"p{i}", "netns", self.sw)
            ip("-n", self.sw, "link", "set", f"p{i}", "master", "br0", "up")
            ip("-n", self.ns(i), "addr", "add", f"{self.addr(i)}/24", "dev", "eth0")
            ip("-n", self.ns(i), "link", "set", "eth0", "up")
        return self

    @staticmethod
    def _sysctl(ns: str, values: dict[str, str]) -> None:
        script = "; ".join(f"echo {v} > /proc/sys/{k}" for k, v in values.items())
        subprocess.run(["ip", "netns", "exec", ns, "sh", "-c", script], check=True, timeout=10)

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.kill()
        for ipr in self._ipr.values():
            ipr.close()
        for name in self.namespaces:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)

    def link_down(self, node: int) -> None:
        ip("-n", self.sw, "link", "set", f"p{node}", "down")

    def link_up(self, node: int) -> None:
        ip("-n", self.sw, "link", "set", f"p{node}", "up")

    # -- observation ---------------------------------------------------------------
    def ipr(self, ns: str) -> IPRoute:
        if ns not in self._ipr:
            self._ipr[ns] = IPRoute(netns=ns)
        return self._ipr[ns]

    def addresses(self, node: int) -> set[str]:
        return {a.get("IFA_ADDRESS") for a in self.ipr(self.ns(node)).get_addr()}

    def holders(self, vip: str = VIP) -> list[int]:
        return [i for i in range(1, self.nodes + 1) if vip in self.addresses(i)]

    def wait_holder(self, node: int, timeout: float, vip: str = VIP, sole: bool = True) -> float:
        """Wait until ``node`` (and, if ``sole``, only it) holds the VIP; return the
        monotonic time it was seen.  After a SIGKILL the dead node keeps a stale VIP
        (docs/penvrrp.md "Protocol behaviour"), so failover checks pass ``sole=False``."""
        def ok() -> bool:
            held = self.holders(vip)
            return held == [node] if sole else node in held
        wait_for(ok, timeout, interval=0.005,
                 what=f"node {node} as {'sole ' if sole else ''}holder of {vip} (holders {self.holders(vip)})\n{self.logs()}")
        return time.monotonic()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.output()[-2500:]}" for p in self.procs)

    # -- processes -----------------------------------------------------------------
    def spawn(self, ns: str, name: str, argv: list[str], state_file: Path | None = None,
              env: dict[str, str] | None = None) -> Proc:
        log = self.tmp / f"{name}.log"
        fh = open(log, "wb")
        popen = subprocess.Popen(["ip", "netns", "exec", ns, *argv], stdout=fh, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})})
        fh.close()
        proc = Proc(name, popen, log, state_file)
        self.procs.append(proc)
        return proc

    def penvrrp(self, node: int, *args: str, name: str | None = None, vip: str | None = VIP,
                advert_int: str = "0.2", vrid: str = "51") -> Proc:
        name = name or f"penvrrp{node}-{next(_counter)}"
        state = self.tmp / f"{name}.json"
        argv = [str(PENVRRP), "-f", "--state-file", str(state), "--garp-delay", "1"]
        if vip is not None:
            argv += ["-i", "eth0", "--vrid", vrid, "--vip", f"{vip}/24" if ":" not in vip else f"{vip}/64",
                     "--advert-int", advert_int]
        return self.spawn(self.ns(node), name, [*argv, *args], state_file=state)

    def free_port(self, ns: str) -> int:
        """A port nobody uses in this private namespace (bind 0 there, then release)."""
        s = netns.create_socket(ns, socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("0.0.0.0", 0))
            return int(s.getsockname()[1])
        finally:
            s.close()

    def backend(self, node: int, port: int) -> Proc:
        """A tiny TCP server answering every connection with the node's name."""
        code = textwrap.dedent(f"""
            import socket
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", {port})); s.listen(64)
            while True:
                c, _ = s.accept()
                c.sendall(b"node{node}\\n"); c.close()
        """)
        return self.spawn(self.ns(node), f"backend{node}", [sys.executable, "-c", code])

    def pen(self, node: int, listen: int, control: int, backend: int) -> Proc:
        """Our pen (or C pen when PENVRRP_TEST_PEN=/usr/bin/pen, which needs -u root)."""
        exe = os.environ.get("PENVRRP_TEST_PEN", str(PEN))
        extra = ["-u", "root"] if exe == "/usr/bin/pen" else []
        return self.spawn(self.ns(node), f"pen{node}-{next(_counter)}",
                          [exe, "-f", *extra, "-C", f"127.0.0.1:{control}", f"0.0.0.0:{listen}",
                           f"127.0.0.1:{backend}"])

    def client_get(self, host: str, port: int, timeout: float = 1.0) -> str:
        """Connect from the switch namespace (the LAN's client) and read the reply."""
        s = netns.create_socket(self.sw, socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.settimeout(timeout)
            s.connect((host, port))
            return s.recv(100).decode().strip()
        finally:
            s.close()

    def keepalived(self, node: int, conf: str, name: str | None = None) -> Proc:
        name = name or f"keepalived{node}-{next(_counter)}"
        path = self.tmp / f"{name}.conf"
        path.write_text(conf)
        return self.spawn(self.ns(node), name,
                          [KEEPALIVED, "-n", "-l", "-D", "-P", "-f", str(path),
                           "-p", str(self.tmp / f"{name}.pid"), "-r", str(self.tmp / f"{name}.vrrp.pid")])

    # -- probing -------------------------------------------------------------------
    def raw_sender(self) -> socket.socket:
        """An AF_PACKET socket on the switch's br0: forges any frame onto the LAN."""
        s = netns.create_socket(self.sw, socket.AF_PACKET, socket.SOCK_RAW)
        s.bind(("br0", 0))
        return s

    def sniffer(self) -> socket.socket:
        """AF_PACKET socket on br0 seeing every frame the nodes send."""
        s = netns.create_socket(self.sw, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
        s.bind(("br0", 0))
        s.settimeout(0.05)
        return s


@dataclass
class Frame:
    """One VRRP advert or ARP seen on the LAN."""

    t: float
    kind: str
    src_mac: str
    src: str
    ttl: int = 0
    advert: Any = None
    error: str = ""


class Capture:
    """Background capture of VRRP (IPv4) and ARP frames on the switch's bridge."""

    def __init__(self, lab: Lab) -> None:
        self.sock = lab.sniffer()
        self.frames: list[Frame] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Capture:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> list[Frame]:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()
        return self.frames

    def _run(self) -> None:
        from penvrrp.core import packet

        while not self._stop.is_set():
            try:
                data = self.sock.recv(2048)
            except (TimeoutError, OSError):
                continue
            now = time.monotonic()
            mac = ":".join(f"{b:02x}" for b in data[6:12])
            etype = int.from_bytes(data[12:14], "big")
            if etype == 0x0806 and len(data) >= 42:
                self.frames.append(Frame(now, "arp", mac, socket.inet_ntoa(data[28:32])))
            elif etype == 0x0800 and len(data) >= 34 and data[23] == 112:
                try:
                    src, dst, ttl, payload = packet.parse_ipv4(data[14:])
                    adv = packet.decode(payload, src, dst).advert
                    self.frames.append(Frame(now, "vrrp", mac, src, ttl, adv))
                except packet.PacketError as exc:
                    self.frames.append(Frame(now, "vrrp", mac, socket.inet_ntoa(data[26:30]), data[22], None, str(exc)))

    def adverts(self, src: str | None = None) -> list[Frame]:
        return [f for f in self.frames if f.kind == "vrrp" and (src is None or f.src == src)]

    def garps(self, vip: str = VIP) -> list[Frame]:
        return [f for f in self.frames if f.kind == "arp" and f.src == vip]


@contextlib.contextmanager
def running_lab(tmp: Path, nodes: int) -> Iterator[Lab]:
    """A built lab, torn down (processes killed, namespaces deleted) however the test ends."""
    if os.geteuid() != 0:
        import pytest

        pytest.skip("network namespace tests need root")
    lab = Lab(tmp, nodes=nodes)
    try:
        lab.build()
        yield lab
    finally:
        lab.close()


def have_keepalived() -> bool:
    return shutil.which(KEEPALIVED) is not None
