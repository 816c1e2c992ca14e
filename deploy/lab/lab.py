"""The pen-ha HA lab: the two-node cluster of deploy/ha-example on one machine, in network namespaces.

    lab up | down | status | kill NODE | stop NODE | start NODE [--nopreempt]
        | exec NODE -- CMD... | partition NODE | heal NODE | client [...]

Nodes (the addresses of deploy/ha-example, TEST-NET-1 only):

    NAME-lb1     192.0.2.11   pen, penvrrp (priority 150), penlogd
    NAME-lb2     192.0.2.12   pen, penvrrp (priority 100), penlogd     VIP 192.0.2.100, VRID 51
    NAME-web1..3 192.0.2.21..23  nginx on :80 and :8080
    NAME-client  192.0.2.50
    NAME-sw      the switch: bridge br0, one veth per node

The balancers run the ha-example's own files (pen.env, pen.cfg, penvrrp.toml, penlogd.env,
notify.sh), with /etc/pen-ha and /run/penvrrp pointed at the lab's state directory and shorter
VRRP timers.  Programs come from this repository's virtualenv (or --bin).  Every process is
started with its pid recorded and is stopped by that pid; `down` also removes the namespaces.
Needs root.  Several labs can run at once with different --name values.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
EXAMPLE = REPO / "deploy" / "ha-example"

VIP = "192.0.2.100"
PREFIX = 24
CONTROL = "127.0.0.1:10080"          # PEN_CONTROL of ha-example/balancer/etc/pen-ha/pen.env
IDLE_TIMEOUT = 3                     # pen.cfg's idle_timeout, in the lab


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    role: str            # lb, web, client
    addr: str


NODES = (
    Node("lb1", "lb", "192.0.2.11"), Node("lb2", "lb", "192.0.2.12"),
    Node("web1", "web", "192.0.2.21"), Node("web2", "web", "192.0.2.22"),
    Node("web3", "web", "192.0.2.23"), Node("client", "client", "192.0.2.50"),
)
BY_NAME = {n.name: n for n in NODES}
PROGRAMS = {"lb": ("penlogd", "pen", "penvrrp"), "web": ("nginx",), "client": ()}


class LabError(Exception):
    """Something the operator must see: printed, exit status 1."""


def wait_for(pred, timeout: float, what: str, poll: float = 0.05):
    """Poll until pred() is truthy (bounded); its value, or LabError naming `what`."""
    end = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > end:
            raise LabError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(poll)


def run(*cmd: str, check: bool = True, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and res.returncode != 0:
        raise LabError(f"{' '.join(cmd)}: {res.stderr.strip() or res.stdout.strip()}")
    return res


_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000


def ns_socket(ns: str, family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM) -> socket.socket:
    """A socket living in namespace `ns`: made by a short-lived thread that setns()'d there
    (a network namespace is per thread; the socket keeps it for life)."""
    out: list[object] = []

    def make() -> None:
        try:
            fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns {ns}")
            finally:
                os.close(fd)
            out.append(socket.socket(family, kind))
        except OSError as e:
            out.append(e)

    t = threading.Thread(target=make)
    t.start()
    t.join()
    if isinstance(out[0], OSError):
        raise out[0]
    return out[0]  # type: ignore[return-value]


def can_connect(ns: str, host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with ns_socket(ns) as s:
            s.settimeout(timeout)
            s.connect((host, port))
        return True
    except OSError:
        return False


def read_env(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as systemd's EnvironmentFile reads them (no quoting used in ours)."""
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            env[key.strip()] = value.strip()
    return env


class Lab:
    def __init__(self, name: str, state_dir: Path, bindir: Path, advert_int: float) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", name):
            raise LabError(f"bad lab name {name!r}: letters, digits, _ . - only, at most 40")
        self.name = name
        self.dir = state_dir
        self.bin = bindir
        self.advert_int = advert_int

    # -- names and paths ---------------------------------------------------------------------
    def ns(self, node: str) -> str:
        return f"{self.name}-{node}"

    @property
    def sw(self) -> str:
        return f"{self.name}-sw"

    def node(self, name: str) -> Node:
        if name not in BY_NAME:
            raise LabError(f"no node {name!r}: one of {', '.join(BY_NAME)}")
        return BY_NAME[name]

    def ndir(self, node: str) -> Path:
        return self.dir / node

    def exe(self, prog: str) -> str:
        if prog == "nginx":
            return shutil.which("nginx") or "/usr/sbin/nginx"
        return str(self.bin / prog)

    def namespaces(self) -> list[str]:
        out = run("ip", "netns", "list", check=False).stdout
        mine = {self.sw, *(self.ns(n.name) for n in NODES)}
        return [line.split()[0] for line in out.splitlines() if line and line.split()[0] in mine]

    # -- building ------------------------------------------------------------------------------
    def up(self) -> None:
        if self.namespaces():
            raise LabError(f"lab {self.name!r} is already up (namespaces exist); `down` it first")
        for prog in ("pen", "penctl", "penvrrp", "penlogd"):
            if not os.access(self.exe(prog), os.X_OK):
                raise LabError(f"{self.exe(prog)} missing: run scripts/setup.sh, or give --bin")
        if not os.access(self.exe("nginx"), os.X_OK):
            raise LabError("nginx missing: apt-get install nginx-light")
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True, mode=0o755)
        (self.dir / "lab.json").write_text(json.dumps(
            {"name": self.name, "bin": str(self.bin), "advert_int": self.advert_int}))
        try:
            self._network()
            for n in NODES:
                self.ndir(n.name).mkdir()
                if n.role == "web":
                    self._web_files(n)
                    self.start(n.name)
            for n in NODES:
                if n.role == "lb":
                    self._lb_files(n, preempt=True)
                    self.start(n.name, wait_state=False)
            wait_for(lambda: self.vrrp_state("lb1") == "MASTER", 15, "lb1 to become MASTER")
            wait_for(lambda: self.vrrp_state("lb2") == "BACKUP", 5, "lb2 to be BACKUP")
        except BaseException:
            self.down()
            raise
        print(f"lab {self.name} up: VIP {VIP} on lb1; state in {self.dir}")

    def _network(self) -> None:
        run("ip", "netns", "add", self.sw)
        run("ip", "-n", self.sw, "link", "set", "lo", "up")
        run("ip", "-n", self.sw, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", self.sw, "link", "set", "br0", "up")
        for n in NODES:
            ns = self.ns(n.name)
            run("ip", "netns", "add", ns)
            run("ip", "-n", ns, "link", "set", "lo", "up")
            port = f"sw-{n.name}"
            run("ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", port,
                "netns", self.sw)
            run("ip", "-n", self.sw, "link", "set", port, "master", "br0", "up")
            run("ip", "-n", ns, "addr", "add", f"{n.addr}/{PREFIX}", "dev", "eth0")
            run("ip", "-n", ns, "link", "set", "eth0", "up")
            if n.role == "lb":
                # ha-example/balancer/etc/sysctl.d/60-pen-ha.conf, per namespace
                for key, value in self._sysctls():
                    run("ip", "netns", "exec", ns, "sysctl", "-q", "-w", f"{key}={value}")

    @staticmethod
    def _sysctls() -> list[tuple[str, str]]:
        conf = EXAMPLE / "balancer/etc/sysctl.d/60-pen-ha.conf"
        pairs = []
        for line in conf.read_text().splitlines():
            if "=" in line and not line.lstrip().startswith("#"):
                key, value = (p.strip() for p in line.split("=", 1))
                if key.startswith("net.core."):
                    continue        # not per namespace in every kernel; harmless to skip here
                pairs.append((key, value))
        return pairs

    def _localise(self, text: str, node: str) -> str:
        """The ha-example's paths, pointed at this node's state directory; faster timers."""
        d = str(self.ndir(node))
        text = text.replace("/etc/pen-ha/", d + "/").replace("/run/penvrrp/", d + "/")
        text = re.sub(r"^advert_int = .*$", f"advert_int = {self.advert_int:g}", text, flags=re.M)
        text = re.sub(r"^idle_timeout \d+$", f"idle_timeout {IDLE_TIMEOUT}", text, flags=re.M)
        return re.sub(r"\binterval = 1\b", "interval = 0.2", text)

    def _lb_files(self, n: Node, preempt: bool) -> None:
        d = self.ndir(n.name)
        for src in (EXAMPLE / "balancer/etc/pen-ha").iterdir():
            (d / src.name).write_text(self._localise(src.read_text(), n.name))
            (d / src.name).chmod(src.stat().st_mode & 0o777)
        toml = self._localise((EXAMPLE / n.name / "etc/pen-ha/penvrrp.toml").read_text(), n.name)
        # a shorter second GARP burst than production's 5 s, so drills finish sooner
        toml = toml.replace('notify = ', 'garp_delay = 1\nnotify = ', 1)
        if not preempt:
            toml = toml.replace('notify = ', 'nopreempt = true\nnotify = ', 1)
        (d / "penvrrp.toml").write_text(toml)

    def _web_files(self, n: Node) -> None:
        d = self.ndir(n.name)
        (d / "www").mkdir()
        (d / "www" / "slow.bin").write_bytes(b"x" * 60_000)        # 3 s at limit_rate 20k
        (d / "nginx.conf").write_text(f"""\
# lab backend {n.name}: what Debian's nginx.conf does, minus the system paths
daemon off;
user root;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 1024; }}
http {{
    client_body_temp_path {d}/tmp-body;
    proxy_temp_path {d}/tmp-proxy;
    fastcgi_temp_path {d}/tmp-fastcgi;
    uwsgi_temp_path {d}/tmp-uwsgi;
    scgi_temp_path {d}/tmp-scgi;
    include {EXAMPLE}/backend/etc/nginx/conf.d/pen-ha.conf;
    access_log {d}/access.log penha;
    server {{
        listen {n.addr}:80;
        listen {n.addr}:8080;
        root {d}/www;
        location = / {{ default_type text/plain; return 200 "{n.name}\\n"; }}
        location = /slow.bin {{ limit_rate 20k; }}
    }}
}}
""")

    # -- processes -----------------------------------------------------------------------------
    def pidfile(self, node: str, prog: str) -> Path:
        return self.ndir(node) / f"{prog}.lab-pid"

    def pid(self, node: str, prog: str) -> int | None:
        """The recorded pid, if that process still runs the program we started."""
        try:
            pid = int(self.pidfile(node, prog).read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            stat = Path(f"/proc/{pid}/stat").read_text()
        except (OSError, ValueError):
            return None
        if prog.encode() not in cmdline or stat.rsplit(")", 1)[1].split()[0] == "Z":
            return None
        return pid

    def spawn(self, node: str, prog: str, args: list[str], env: dict[str, str] | None = None) -> int:
        log = open(self.ndir(node) / f"{prog}.out", "ab")
        proc = subprocess.Popen(["ip", "netns", "exec", self.ns(node), self.exe(prog), *args],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True, env={**os.environ, **(env or {})})
        log.close()
        self.pidfile(node, prog).write_text(f"{proc.pid}\n")
        return proc.pid

    def start(self, name: str, preempt: bool = True, wait_state: bool = True) -> None:
        n = self.node(name)
        d = self.ndir(name)
        if n.role == "web":
            if self.pid(name, "nginx"):
                raise LabError(f"{name}: nginx already running")
            self.spawn(name, "nginx", ["-c", str(d / "nginx.conf"), "-e", str(d / "error.log")])
            wait_for(lambda: can_connect(self.ns(name), n.addr, 80), 10, f"{name} nginx on :80")
            return
        if n.role != "lb":
            raise LabError(f"{name}: nothing to start")
        if any(self.pid(name, p) for p in PROGRAMS["lb"]):
            raise LabError(f"{name} is (partly) running; `stop` or `kill` it first")
        self._lb_files(n, preempt)
        (d / "maintenance").unlink(missing_ok=True)
        (d / "state.json").unlink(missing_ok=True)          # a killed penvrrp's last word
        lg = read_env(d / "penlogd.env")
        self.spawn(name, "penlogd", [*shlex.split(lg["PENLOGD_OPTS"]), "-f", "-l",
                                     str(d / "access.log"), lg["PENLOGD_PORT"]])
        self._start_pen(name)
        self.spawn(name, "penvrrp", ["-f", "-c", str(d / "penvrrp.toml"),
                                     "--state-file", str(d / "state.json")])
        wait_for(lambda: self.vrrp_state(name) in ("BACKUP", "MASTER"), 15,
                 f"{name} penvrrp to run")
        if wait_state and preempt and name == "lb1":
            wait_for(lambda: self.vrrp_state(name) == "MASTER", 10, f"{name} to preempt")

    def _start_pen(self, name: str) -> None:
        """pen exactly as pen.service runs it, with readiness from its sd_notify READY=1."""
        d = self.ndir(name)
        env = read_env(d / "pen.env")
        sock_path = d / "notify.sock"
        sock_path.unlink(missing_ok=True)
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
            notify.bind(str(sock_path))
            notify.settimeout(15)
            self.spawn(name, "pen", ["-f", "-C", env["PEN_CONTROL"], "-F", str(d / "pen.cfg"),
                                     "-l", env["PEN_LOG"], *shlex.split(env["PEN_OPTS"]),
                                     env["PEN_LISTEN"]], {"NOTIFY_SOCKET": str(sock_path)})
            try:
                while b"READY=1" not in notify.recv(4096):
                    pass
            except socket.timeout:
                raise LabError(f"{name}: pen sent no READY=1 within 15 s; see {d}/pen.out") from None
        sock_path.unlink(missing_ok=True)

    def signal(self, name: str, progs: tuple[str, ...], sig: int, timeout: float = 10) -> None:
        for prog in progs:
            pid = self.pid(name, prog)
            if pid:
                os.kill(pid, sig)
                wait_for(lambda: not self.pid(name, prog), timeout, f"{name} {prog} to exit")
            self.pidfile(name, prog).unlink(missing_ok=True)

    def kill(self, name: str) -> None:
        """Hard failure: SIGKILL every process of the node; nothing gets to clean up."""
        n = self.node(name)
        self.signal(name, PROGRAMS[n.role], signal.SIGKILL)
        if n.role == "web":        # nginx workers are children of the master we killed
            self._kill_all_in(self.ns(name))

    def stop(self, name: str) -> None:
        """Graceful stop, as runbooks/failover-drill.md does it by hand: a master hands the
        VIP over first (maintenance flag), pen finishes its connections, then each stops."""
        n = self.node(name)
        if n.role == "web":
            self.signal(name, ("nginx",), signal.SIGQUIT)       # nginx: graceful shutdown
            return
        d = self.ndir(name)
        (d / "maintenance").touch()
        if self.vrrp_state(name) == "MASTER":
            # the peer preempts after its Master_Down interval; a peer with nopreempt never does
            patience = 3 * (3 * self.advert_int + 1)
            try:
                wait_for(lambda: self.vrrp_state(name) != "MASTER", patience, f"{name} to hand over")
                print(f"{name}: handed the VIP over (maintenance priority)")
            except LabError:
                print(f"{name}: the peer did not take over within {patience:g} s (nopreempt?); "
                      "resigning: SIGTERM to penvrrp sends a priority-0 advert")
                self.signal(name, ("penvrrp",), signal.SIGTERM)
        try:      # connections orphaned by the VIP move close after pen.cfg's idle_timeout
            wait_for(lambda: self.pen_connections(name) in (0, None), 3 * IDLE_TIMEOUT,
                     f"{name} pen to finish its connections")
        except LabError:
            print(f"{name}: pen still has {self.pen_connections(name)} connections; stopping anyway")
        self.signal(name, ("penvrrp", "pen", "penlogd"), signal.SIGTERM)

    def pen_connections(self, name: str) -> int | None:
        res = self.exec(name, ["penctl", CONTROL, "servers"], capture=True)
        if res.returncode != 0:
            return None
        return sum(int(line.split()[6]) for line in res.stdout.splitlines() if len(line.split()) > 6)

    def _kill_all_in(self, ns: str) -> None:
        """Every process left in one of our namespaces (only ever ones this lab started)."""
        pids = run("ip", "netns", "pids", ns, check=False).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (OSError, ValueError):
                pass

    def down(self) -> None:
        if self.dir.exists():
            for n in NODES:
                for prog in PROGRAMS[n.role] + ("client",):
                    if self.pid(n.name, prog):
                        try:
                            self.signal(n.name, (prog,), signal.SIGTERM, timeout=3)
                        except LabError:
                            self.signal(n.name, (prog,), signal.SIGKILL)
        for ns in self.namespaces():
            self._kill_all_in(ns)
        for ns in self.namespaces():
            for _ in range(50):
                if run("ip", "netns", "del", ns, check=False).returncode == 0:
                    break
                time.sleep(0.1)
        left = self.namespaces()
        if left:
            raise LabError(f"could not delete namespaces: {' '.join(left)}")
        print(f"lab {self.name} down (logs kept in {self.dir})")

    # -- inspection -----------------------------------------------------------------------------
    def exec(self, name: str, cmd: list[str], capture: bool = False,
             timeout: float | None = None) -> subprocess.CompletedProcess[str]:
        """Run an operator's command on a node: in its namespace, with pen-ha's programs first
        on PATH, so the runbooks' commands work verbatim."""
        self.node(name)
        env = {**os.environ, "PATH": f"{self.bin}:{os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}",
               "PENHA_LAB_NODE_DIR": str(self.ndir(name))}
        return subprocess.run(["ip", "netns", "exec", self.ns(name), *cmd], env=env, text=True,
                              capture_output=capture, timeout=timeout)

    def vrrp_doc(self, name: str) -> dict | None:
        try:
            return json.loads((self.ndir(name) / "state.json").read_text())["instances"][0]
        except (OSError, ValueError, KeyError, IndexError):
            return None

    def vrrp_state(self, name: str) -> str | None:
        if not self.pid(name, "penvrrp"):
            return None
        doc = self.vrrp_doc(name)
        return doc["state"] if doc else None

    def has_vip(self, name: str) -> bool:
        out = run("ip", "-n", self.ns(name), "-br", "-4", "addr", "show", "dev", "eth0", check=False).stdout
        return f" {VIP}/" in out

    def status(self) -> int:
        if not self.namespaces():
            print(f"lab {self.name}: down")
            return 1
        print(f"lab {self.name}: state in {self.dir}")
        for n in NODES:
            procs = " ".join(f"{p}:{self.pid(n.name, p) or 'DOWN'}" for p in PROGRAMS[n.role])
            extra = ""
            if n.role == "lb":
                doc = self.vrrp_doc(n.name) if self.pid(n.name, "penvrrp") else None
                vr = f"{doc['state']} prio {doc['priority']}" if doc else "-"
                maint = " MAINTENANCE" if (self.ndir(n.name) / "maintenance").exists() else ""
                extra = f"  vrrp {vr}  vip {'YES' if self.has_vip(n.name) else 'no'}{maint}"
            print(f"  {n.name:7} {n.addr:12} {procs}{extra}")
        holders = [n.name for n in NODES if n.role == "lb" and self.has_vip(n.name)]
        live = [h for h in holders if self.pid(h, "penvrrp")]
        stale = [f"{h}(stale: penvrrp not running)" for h in holders if h not in live]
        print(f"  VIP {VIP} held by: {' '.join(live + stale) or 'NOBODY'}"
              f"{'  <-- SPLIT BRAIN' if len(live) > 1 else ''}")
        for n in NODES:
            if n.role == "lb" and self.pid(n.name, "pen"):
                res = self.exec(n.name, ["penctl", CONTROL, "servers"], capture=True)
                for line in res.stdout.splitlines():
                    print(f"  {n.name} pen: {line}")
        return 0

    def partition(self, name: str, on: bool) -> None:
        """Split-brain drill: the switch stops flooding multicast (VRRP's 224.0.0.18) to `name`;
        ARP and unicast still pass, so both nodes stay reachable and both claim the VIP."""
        self.node(name)
        run("ip", "-n", self.sw, "link", "set", f"sw-{name}", "type", "bridge_slave",
            "mcast_flood", "off" if on else "on")

    def client(self, args: list[str]) -> int:
        cmd = ["ip", "netns", "exec", self.ns("client"), sys.executable, str(HERE / "labclient.py"),
               "--url", f"http://{VIP}/", *args]
        return subprocess.run(cmd).returncode


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="lab", description=__doc__.split("\n\n")[0])
    p.add_argument("--name", default=os.environ.get("PENHA_LAB_NAME", "penlab"),
                   help="namespace prefix, to run several labs at once [$PENHA_LAB_NAME or penlab]")
    p.add_argument("--state-dir", type=Path, default=None,
                   help="configs, pids and logs [$PENHA_LAB_DIR or /run/penha-lab/NAME]")
    p.add_argument("--bin", type=Path, default=Path(os.environ.get("PENHA_BIN", REPO / ".venv" / "bin")),
                   help="where pen, penctl, penvrrp, penlogd are [$PENHA_BIN or the repo's .venv/bin]")
    p.add_argument("--advert-int", type=float, default=0.3, help="VRRP advert interval (v3) [0.3]")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("up", help="build the cluster and start everything")
    sub.add_parser("down", help="stop everything and remove the namespaces")
    sub.add_parser("status", help="processes, VRRP states, VIP holder, pen's servers")
    for name, what in (("kill", "SIGKILL a node's programs (hard failure)"),
                       ("stop", "stop a node gracefully (hand over the VIP, drain, stop)"),
                       ("partition", "drop VRRP adverts arriving at a node (split brain)"),
                       ("heal", "undo partition")):
        sp = sub.add_parser(name, help=what)
        sp.add_argument("node")
    sp = sub.add_parser("start", help="start a stopped or killed node")
    sp.add_argument("node")
    sp.add_argument("--nopreempt", action="store_true", help="penvrrp must not take the VIP back")
    sp = sub.add_parser("exec", help="run a command on a node (runbook commands verbatim)")
    sp.add_argument("node")
    sub.add_parser("client", help="requests to the VIP, continuously (options: labclient.py --help)")
    argv = sys.argv[1:] if argv is None else argv
    rest: list[str] = []
    for i, word in enumerate(argv):      # `client ARGS` and `exec NODE [--] CMD` pass ARGS through
        if word == "client" or (word == "exec" and i + 1 < len(argv)):
            cut = i + 1 if word == "client" else i + 2
            argv, rest = argv[:cut], argv[cut:]
            break
        if not word.startswith("-") and argv[i - 1:i] not in (["--name"], ["--state-dir"],
                                                               ["--bin"], ["--advert-int"]):
            break
    if rest[:1] == ["--"]:
        rest = rest[1:]
    a = p.parse_args(argv)
    state = a.state_dir or Path(os.environ.get("PENHA_LAB_DIR", f"/run/penha-lab/{a.name}"))
    if os.geteuid() != 0:
        print("lab: needs root (network namespaces)", file=sys.stderr)
        return 1
    lab = Lab(a.name, state.resolve(), a.bin.resolve(), a.advert_int)
    saved = state / "lab.json"
    if a.cmd != "up" and saved.exists():
        conf = json.loads(saved.read_text())
        lab.bin, lab.advert_int = Path(conf["bin"]), conf["advert_int"]
    try:
        if a.cmd == "up":
            lab.up()
        elif a.cmd == "down":
            lab.down()
        elif a.cmd == "status":
            return lab.status()
        elif a.cmd == "kill":
            lab.kill(a.node)
        elif a.cmd == "stop":
            lab.stop(a.node)
        elif a.cmd == "start":
            lab.start(a.node, preempt=not a.nopreempt)
        elif a.cmd in ("partition", "heal"):
            lab.partition(a.node, a.cmd == "partition")
        elif a.cmd == "exec":
            if not rest:
                raise LabError("exec: which command?")
            return lab.exec(a.node, rest).returncode
        elif a.cmd == "client":
            return lab.client(rest)
    except LabError as e:
        print(f"lab: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
