"""The pen-ha HA lab: the two-node cluster of deploy/ha-example on one machine, in network namespaces.

    lab up | down | status | kill NODE | stop NODE | start NODE [--nopreempt]
        | restart NODE DAEMON | exec NODE -- CMD... | partition NODE | heal NODE
        | link NODE down|up | backends NODE off|on | client [...]

Nodes (the addresses of deploy/ha-example, TEST-NET-1 only):

    NAME-lb1     192.0.2.11   pen, penvrrp (priority 150), penlogd
    NAME-lb2     192.0.2.12   pen, penvrrp (priority 100), penlogd     VIP 192.0.2.100, VRID 51
    NAME-web1..3 192.0.2.21..23  nginx on :80 and :8080
    NAME-client  192.0.2.50
    NAME-sw      the switch: bridge br0, one veth per node

The balancers run the ha-example's own files (pen.env, pen.cfg, penvrrp.toml, penlogd.env,
notify.sh), with /etc/pen-ha and /run/penvrrp pointed at the lab's state directory and shorter
VRRP timers.  Each balancer's daemons run under labsup.py, which does what systemd does with
their units (Type=notify, WatchdogSec, Restart, ExecStopPost); `exec` maps /etc/pen-ha,
/run/penvrrp and `systemctl` to the node's own, so runbook commands run verbatim.  With
`--stack keepalived` the balancers run the reference instead: C pen (/usr/bin/pen) and
keepalived, whose vrrp_script runs /usr/bin/penctl, on the same timers.  Programs come from
this repository's virtualenv (or --bin).  Every process is started with its pid recorded and
is stopped by that pid; `down` also removes the namespaces.  Needs root.  Several labs run
at once with different --name values; `up` without one picks a fresh name.
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
STACK_PROGRAMS = {"pen-ha": ("penlogd", "pen", "penvrrp"), "keepalived": ("pen", "keepalived")}
AGENT = {"pen-ha": "penvrrp", "keepalived": "keepalived"}
C_PEN, C_PENCTL, KEEPALIVED = "/usr/bin/pen", "/usr/bin/penctl", "/usr/sbin/keepalived"
SUP = "labsup"
sys.path.insert(0, str(HERE))
import labsup  # noqa: E402


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
    def __init__(self, name: str, state_dir: Path, bindir: Path, advert_int: float,
                 track_interval: float = 0.2, stack: str = "pen-ha", tracking: bool = False,
                 peers: bool = True) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", name):
            raise LabError(f"bad lab name {name!r}: letters, digits, _ . - only, at most 40")
        if stack not in STACK_PROGRAMS:
            raise LabError(f"bad stack {stack!r}: pen-ha or keepalived")
        self.name = name
        self.dir = state_dir
        self.bin = bindir
        self.advert_int = advert_int
        self.track_interval = track_interval
        self.stack = stack
        self.tracking = tracking      # pen.cfg's `roundrobin` as `no roundrobin`: clients tracked
        self.peers = peers            # pen.env's PEN_PEERS kept (pen peers, docs/peers.md)

    def programs(self, node: str) -> tuple[str, ...]:
        role = self.node(node).role
        return STACK_PROGRAMS[self.stack] if role == "lb" else PROGRAMS[role]

    @property
    def agent(self) -> str:
        return AGENT[self.stack]

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
        if self.stack == "keepalived":
            for exe in (C_PEN, C_PENCTL, KEEPALIVED):
                if not os.access(exe, os.X_OK):
                    raise LabError(f"{exe} missing: apt-get install pen keepalived")
        if not os.access(self.exe("nginx"), os.X_OK):
            raise LabError("nginx missing: apt-get install nginx-light")
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True, mode=0o755)
        (self.dir / "lab.json").write_text(json.dumps(
            {"name": self.name, "bin": str(self.bin), "advert_int": self.advert_int,
             "track_interval": self.track_interval, "stack": self.stack,
             "tracking": self.tracking, "peers": self.peers}))
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
        print(f"lab {self.name} up ({self.stack}): VIP {VIP} on lb1; state in {self.dir}")

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
        return re.sub(r"\binterval = 1\b", f"interval = {self.track_interval:g}", text)

    def _lb_files(self, n: Node, preempt: bool) -> None:
        d = self.ndir(n.name)
        for src in (EXAMPLE / "balancer/etc/pen-ha").iterdir():
            text = self._localise(src.read_text(), n.name)
            if src.name == "pen.cfg" and self.tracking:
                text = re.sub(r"^roundrobin$", "no roundrobin", text, flags=re.M)
            if src.name == "pen.env" and not self.peers:
                text = re.sub(r"^PEN_PEERS=.*\n", "", text, flags=re.M)
            (d / src.name).write_text(text)
            (d / src.name).chmod(src.stat().st_mode & 0o777)
        # pen peers' shared secret (pen.env's PEN_PEERS): one per lab, the same on both nodes
        key = self.dir / "peer.key"
        if not key.exists():
            key.write_text(os.urandom(32).hex() + "\n")
            key.chmod(0o600)
        (d / "peer.key").write_bytes(key.read_bytes())
        (d / "peer.key").chmod(0o600)
        toml = self._localise((EXAMPLE / n.name / "etc/pen-ha/penvrrp.toml").read_text(), n.name)
        # a shorter second GARP burst than production's 5 s, so drills finish sooner
        toml = toml.replace('notify = ', 'garp_delay = 1\nnotify = ', 1)
        if not preempt:
            toml = toml.replace('notify = ', 'nopreempt = true\nnotify = ', 1)
        (d / "penvrrp.toml").write_text(toml)
        if self.stack == "keepalived":
            (d / "keepalived.conf").write_text(self._keepalived_conf(n, preempt))

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

    def spawn(self, node: str, prog: str, args: list[str], env: dict[str, str] | None = None,
              exe: bool = True) -> int:
        log = open(self.ndir(node) / f"{prog}.out", "ab")
        proc = subprocess.Popen(["ip", "netns", "exec", self.ns(node), *([self.exe(prog)] if exe else []), *args],
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
        if self.pid(name, SUP) or any(self.pid(name, p) for p in self.programs(name)):
            raise LabError(f"{name} is (partly) running; `stop` or `kill` it first")
        self._lb_files(n, preempt)
        (d / "maintenance").unlink(missing_ok=True)
        (d / "state.json").unlink(missing_ok=True)          # a killed penvrrp's last word
        (d / "ka.state").unlink(missing_ok=True)
        (d / "units.json").write_text(json.dumps({"units": self.units(name)}, indent=1))
        self.spawn(name, SUP, [sys.executable, str(HERE / "labsup.py"), str(d)], exe=False)
        wait_for(lambda: (d / "sup.sock").exists(), 10, f"{name} supervisor")
        wait_for(lambda: all(self.unit_state(name, p) == "active" for p in self.programs(name)), 30,
                 f"{name} daemons to be ready (see {d}/sup.log)")
        wait_for(lambda: self.vrrp_state(name) in ("BACKUP", "MASTER"), 15, f"{name} {self.agent} to run")
        if wait_state and preempt and name == "lb1":
            wait_for(lambda: self.vrrp_state(name) == "MASTER", 10 + 4 * self.advert_int, f"{name} to preempt")

    def units(self, name: str) -> list[dict]:
        """The node's units, as deploy/systemd's files describe them (labsup.py runs them)."""
        d = self.ndir(name)
        env = read_env(d / "pen.env")
        # penvrrp.service's WatchdogSec=3s is below Master_Down at 1 s adverts; the same ratio
        # here, but at least 2 s: a test machine shared with other work starves processes
        watchdog = max(2.0, 3 * self.advert_int)
        if self.stack == "keepalived":
            servers = [f"{w.addr}:80" for w in NODES if w.role == "web"]
            return [
                {"name": "pen", "argv": [C_PEN, "-f", "-u", "root", "-C", env["PEN_CONTROL"], "-F", str(d / "pen.cfg"),
                                         *shlex.split(env["PEN_OPTS"]), env["PEN_LISTEN"], *servers],
                 "restart": "on-failure"},
                # Debian's keepalived.service: Type=notify, no Restart=, no ExecStopPost
                {"name": "keepalived", "argv": [KEEPALIVED, "-n", "-l", "-D", "-P", "-f", str(d / "keepalived.conf"),
                                                "-p", str(d / "keepalived.pid"), "-r", str(d / "keepalived.vrrp.pid")],
                 "restart": "no"},
            ]
        lg = read_env(d / "penlogd.env")
        return [
            {"name": "penlogd", "argv": [self.exe("penlogd"), *shlex.split(lg["PENLOGD_OPTS"]), "-f", "-l",
                                         str(d / "access.log"), lg["PENLOGD_PORT"]], "restart": "on-failure"},
            {"name": "pen", "type": "notify", "watchdog": 30.0, "restart": "on-failure",
             "argv": [self.exe("pen"), "-f", "-C", env["PEN_CONTROL"], "-F", str(d / "pen.cfg"), "-l", env["PEN_LOG"],
                      *shlex.split(env["PEN_OPTS"]), *shlex.split(env.get("PEN_PEERS", "")), env["PEN_LISTEN"]]},
            {"name": "penvrrp", "type": "notify", "watchdog": watchdog, "restart": "always",
             "argv": [self.exe("penvrrp"), "-f", "-c", str(d / "penvrrp.toml"), "--state-file", str(d / "state.json"),
                      "--node-name", name],   # the lab's nodes share the machine's hostname
             "stop_post": [self.exe("penvrrp"), "-c", str(d / "penvrrp.toml"), "cleanup"]},
        ]

    def _keepalived_conf(self, n: Node, preempt: bool) -> str:
        """The reference: the same instance as penvrrp.toml, keepalived's vrrp_script running C
        penctl (`pid`: all a C pen can say) and the maintenance test, on the same timers."""
        d = self.ndir(n.name)
        prio = 150 if n.name == "lb1" else 100
        interval = max(1, round(self.track_interval))     # vrrp_script counts whole seconds
        notify = d / "ka-notify.sh"
        notify.write_text(f'#!/bin/sh\necho "$3" > {d}/ka.state\necho "$(date +%s.%N) $2 $3 $4" >> {d}/transitions.log\n')
        notify.chmod(0o755)
        nopreempt = "" if preempt else "    nopreempt\n"
        return f"""\
global_defs {{
    router_id {self.ns(n.name)}
    script_user root
    enable_script_security
    vrrp_garp_master_delay 1
}}
vrrp_script chk_pen {{
    script "{C_PENCTL} {CONTROL} pid"
    interval {interval}
    timeout 1
    fall 2
    rise 2
    weight -60
}}
vrrp_script chk_maint {{
    script "/usr/bin/test ! -e {d}/maintenance"
    interval {interval}
    weight -100
}}
vrrp_instance VI_51 {{
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority {prio}
    advert_int {self.advert_int:g}
    version 3
{nopreempt}    virtual_ipaddress {{
        {VIP}/{PREFIX}
    }}
    track_script {{
        chk_pen
        chk_maint
    }}
    notify "{notify}"
}}
"""

    def unit_state(self, name: str, prog: str) -> str | None:
        try:
            return labsup.ask(self.ndir(name), f"status {prog}").split()[1]
        except (OSError, IndexError):
            return None

    def ask(self, name: str, line: str) -> str:
        """A command to the node's supervisor (labsup.py), as systemctl would send it."""
        if self.node(name).role != "lb":
            raise LabError(f"{name}: only the balancers run supervised daemons")
        try:
            reply = labsup.ask(self.ndir(name), line)
        except OSError as e:
            raise LabError(f"{name}: its supervisor does not answer ({e}); `start {name}` first") from None
        if reply.startswith("error:"):
            raise LabError(f"{name}: {reply.strip()}")
        return reply

    def restart(self, name: str, prog: str) -> None:
        """`systemctl restart PROG` on the node, waiting until the unit is ready again."""
        old = self.pid(name, prog)
        self.ask(name, f"restart {prog}")
        wait_for(lambda: self.unit_state(name, prog) == "active" and self.pid(name, prog) not in (None, old),
                 30, f"{name} {prog} to be running again")

    def signal(self, name: str, progs: tuple[str, ...], sig: int, timeout: float = 10) -> None:
        for prog in progs:
            pid = self.pid(name, prog)
            if pid:
                os.kill(pid, sig)
                wait_for(lambda: not self.pid(name, prog), timeout, f"{name} {prog} to exit")
            self.pidfile(name, prog).unlink(missing_ok=True)

    def kill(self, name: str) -> None:
        """Hard failure: SIGKILL every process of the node (its supervisor first, so nothing
        restarts and nothing cleans up)."""
        n = self.node(name)
        if n.role == "lb":
            self.signal(name, (SUP,), signal.SIGKILL)
            for prog in self.programs(name):
                pid = self.pid(name, prog)
                if pid:
                    try:
                        os.killpg(pid, signal.SIGKILL)     # keepalived's VRRP child too
                    except OSError:
                        pass
            self.signal(name, self.programs(name), signal.SIGKILL)
            return
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
            # the peer preempts after its Skew_Time; a peer with nopreempt never does
            patience = 3 * (3 * self.advert_int + 1) + 2 * self.track_interval
            try:
                wait_for(lambda: self.vrrp_state(name) != "MASTER", patience, f"{name} to hand over")
                print(f"{name}: handed the VIP over (maintenance priority)")
            except LabError:
                print(f"{name}: the peer did not take over within {patience:g} s (nopreempt?); "
                      f"resigning: SIGTERM to {self.agent} sends a priority-0 advert")
                self.ask(name, f"stop {self.agent}")
                wait_for(lambda: self.unit_state(name, self.agent) != "deactivating", 20,
                         f"{name} {self.agent} to stop")
        # The old master keeps the VIP release_delay (1 s) after the new master's first advert,
        # serving what still reaches it: SYNs from clients that have not yet seen the new
        # master's gratuitous ARP (sent after its advert), and the packets the new master
        # forwards.  Stopping pen inside that window refuses and resets them, so wait it out
        # (runbooks/failover-drill.md step 3); "conn 0" alone is reached between two requests.
        try:
            wait_for(lambda: not self.has_vip(name), 3 * self.advert_int + 5, f"{name} to release the VIP")
        except LabError:
            print(f"{name}: still holds the VIP; stopping anyway")
        try:      # connections orphaned by the VIP move close after pen.cfg's idle_timeout
            wait_for(lambda: self.pen_connections(name) in (0, None), 3 * IDLE_TIMEOUT,
                     f"{name} pen to finish its connections")
        except LabError:
            print(f"{name}: pen still has {self.pen_connections(name)} connections; stopping anyway")
        self.stop_all(name)

    def stop_all(self, name: str) -> None:
        """Every unit stopped by its supervisor (ExecStopPost included), then the supervisor."""
        if self.pid(name, SUP):
            try:
                self.ask(name, "exit")
            except LabError:
                pass
            try:
                wait_for(lambda: not self.pid(name, SUP), 25, f"{name} supervisor to finish")
            except LabError:
                self.kill(name)
        self.pidfile(name, SUP).unlink(missing_ok=True)

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
                if n.role == "lb":
                    try:
                        self.stop_all(n.name)
                    except LabError:
                        self.kill(n.name)
                for prog in self.programs(n.name) + ("client",):
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
        on PATH, /etc/pen-ha and /run/penvrrp bind-mounted from the node's state directory in a
        mount namespace of its own, and `systemctl` talking to the node's supervisor, so the
        runbooks' commands work verbatim.  Missing mount points are created (empty) first."""
        n = self.node(name)
        d = self.ndir(name)
        shim = self.dir / "shim"
        shim.mkdir(exist_ok=True)
        ctl = shim / "systemctl"
        ctl.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{HERE / "labctl.py"}" "$@"\n')
        ctl.chmod(0o755)
        env = {**os.environ, "PATH": f"{shim}:{self.bin}:{os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}",
               "PENHA_LAB_NODE_DIR": str(d)}
        prefix: list[str] = []
        if n.role == "lb":
            for target in ("/etc/pen-ha", "/run/penvrrp"):
                os.makedirs(target, exist_ok=True)
            prefix = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                      'mount --bind "$1" /etc/pen-ha && mount --bind "$1" /run/penvrrp && shift && exec "$@"',
                      "sh", str(d)]
        return subprocess.run(["ip", "netns", "exec", self.ns(name), *prefix, *cmd], env=env, text=True,
                              capture_output=capture, timeout=timeout)

    def vrrp_doc(self, name: str) -> dict | None:
        try:
            return json.loads((self.ndir(name) / "state.json").read_text())["instances"][0]
        except (OSError, ValueError, KeyError, IndexError):
            return None

    def vrrp_state(self, name: str) -> str | None:
        if not self.pid(name, self.agent):
            return None
        if self.stack == "keepalived":
            try:
                return (self.ndir(name) / "ka.state").read_text().strip() or "BACKUP"
            except OSError:
                return "BACKUP" if self.unit_state(name, self.agent) == "active" else None
        doc = self.vrrp_doc(name)
        return doc["state"] if doc else None

    def has_vip(self, name: str) -> bool:
        out = run("ip", "-n", self.ns(name), "-br", "-4", "addr", "show", "dev", "eth0", check=False).stdout
        return f" {VIP}/" in out

    def status(self) -> int:
        if not self.namespaces():
            print(f"lab {self.name}: down")
            return 1
        print(f"lab {self.name} ({self.stack}): state in {self.dir}")
        for n in NODES:
            procs = " ".join(f"{p}:{self.pid(n.name, p) or 'DOWN'}" for p in self.programs(n.name))
            extra = ""
            if n.role == "lb":
                doc = self.vrrp_doc(n.name) if self.stack == "pen-ha" and self.pid(n.name, "penvrrp") else None
                vr = f"{doc['state']} prio {doc['priority']}" if doc else (self.vrrp_state(n.name) or "-")
                maint = " MAINTENANCE" if (self.ndir(n.name) / "maintenance").exists() else ""
                extra = f"  vrrp {vr}  vip {'YES' if self.has_vip(n.name) else 'no'}{maint}"
            print(f"  {n.name:7} {n.addr:12} {procs}{extra}")
        holders = [n.name for n in NODES if n.role == "lb" and self.has_vip(n.name)]
        live = [h for h in holders if self.pid(h, self.agent)]
        stale = [f"{h}(stale: {self.agent} not running)" for h in holders if h not in live]
        print(f"  VIP {VIP} held by: {' '.join(live + stale) or 'NOBODY'}"
              f"{'  <-- SPLIT BRAIN' if len(live) > 1 else ''}")
        for n in NODES:
            if n.role == "lb" and self.pid(n.name, "pen"):
                res = self.exec(n.name, ["penctl", CONTROL, "servers"], capture=True)
                for line in res.stdout.splitlines():
                    print(f"  {n.name} pen: {line}")
        return 0

    def link(self, name: str, up: bool) -> None:
        """The node's cable: its port on the switch goes down (the node sees no carrier)."""
        self.node(name)
        run("ip", "-n", self.sw, "link", "set", f"sw-{name}", "up" if up else "down")

    def backends(self, name: str, on: bool) -> None:
        """Loss of the backend network on one balancer: routes to the web nodes blackholed."""
        for w in NODES:
            if w.role == "web":
                run("ip", "-n", self.ns(name), "route", "del" if on else "add", "blackhole", f"{w.addr}/32",
                    check=not on)

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
    p.add_argument("--name", default=os.environ.get("PENHA_LAB_NAME"),
                   help="namespace prefix, to run several labs at once [$PENHA_LAB_NAME; `up` without "
                        "one picks a fresh name, which later commands use]")
    p.add_argument("--state-dir", type=Path, default=None,
                   help="configs, pids and logs [$PENHA_LAB_DIR or /run/penha-lab/NAME]")
    p.add_argument("--bin", type=Path, default=Path(os.environ.get("PENHA_BIN", REPO / ".venv" / "bin")),
                   help="where pen, penctl, penvrrp, penlogd are [$PENHA_BIN or the repo's .venv/bin]")
    p.add_argument("--advert-int", type=float, default=0.3, help="VRRP advert interval (v3) [0.3]")
    p.add_argument("--track-interval", type=float, default=0.2, help="seconds between tracker probes [0.2]")
    p.add_argument("--stack", choices=sorted(STACK_PROGRAMS), default="pen-ha",
                   help="pen-ha (pen + penvrrp + penlogd) or keepalived (C pen + keepalived 2.2.7) [pen-ha]")
    p.add_argument("--tracking", action="store_true",
                   help="pen.cfg's `roundrobin` as `no roundrobin`: clients keep their server (pen's default)")
    p.add_argument("--no-peers", action="store_true",
                   help="without pen.env's PEN_PEERS: each pen keeps its own client table (docs/peers.md)")
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
    sp = sub.add_parser("restart", help="restart one daemon of a balancer, as systemctl restart")
    sp.add_argument("node")
    sp.add_argument("daemon")
    sp = sub.add_parser("link", help="a balancer's cable: down or up")
    sp.add_argument("node")
    sp.add_argument("updown", choices=("down", "up"))
    sp = sub.add_parser("backends", help="a balancer's route to the web nodes: off or on")
    sp.add_argument("node")
    sp.add_argument("onoff", choices=("off", "on"))
    sub.add_parser("client", help="requests to the VIP, continuously (options: labclient.py --help)")
    argv = sys.argv[1:] if argv is None else argv
    rest: list[str] = []
    for i, word in enumerate(argv):      # `client ARGS` and `exec NODE [--] CMD` pass ARGS through
        if word == "client" or (word == "exec" and i + 1 < len(argv)):
            cut = i + 1 if word == "client" else i + 2
            argv, rest = argv[:cut], argv[cut:]
            break
        if not word.startswith("-") and argv[i - 1:i] not in (["--name"], ["--state-dir"], ["--bin"],
                                                               ["--advert-int"], ["--track-interval"],
                                                               ["--stack"]):
            break
    if rest[:1] == ["--"]:
        rest = rest[1:]
    a = p.parse_args(argv)
    if os.geteuid() != 0:
        print("lab: needs root (network namespaces)", file=sys.stderr)
        return 1
    a.state_dir = a.state_dir or (Path(os.environ["PENHA_LAB_DIR"]) if os.environ.get("PENHA_LAB_DIR") else None)
    name = a.name or lab_name(a.cmd, a.state_dir)
    state = a.state_dir or LABS / name
    try:
        lab = Lab(name, state.resolve(), a.bin.resolve(), a.advert_int, a.track_interval, a.stack,
                  a.tracking, not a.no_peers)
        saved = state / "lab.json"
        if a.cmd != "up" and saved.exists():
            conf = json.loads(saved.read_text())
            lab.bin, lab.advert_int = Path(conf["bin"]), conf["advert_int"]
            lab.track_interval, lab.stack = conf.get("track_interval", 0.2), conf.get("stack", "pen-ha")
            lab.tracking, lab.peers = conf.get("tracking", False), conf.get("peers", True)
        if a.cmd == "up" and not a.name:
            LABS.mkdir(parents=True, exist_ok=True)
            (LABS / "current").write_text(name + "\n")
    except LabError as e:
        print(f"lab: {e}", file=sys.stderr)
        return 1
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
        elif a.cmd == "restart":
            lab.restart(a.node, a.daemon)
        elif a.cmd == "link":
            lab.link(a.node, a.updown == "up")
        elif a.cmd == "backends":
            lab.backends(a.node, a.onoff == "on")
        elif a.cmd == "exec":
            if not rest:
                raise LabError("exec: which command?")
            return lab.exec(a.node, rest).returncode
        elif a.cmd == "client":
            return lab.client(rest)
    except LabError as e:
        print(f"lab: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:              # `lab status | head`: the reader left, nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


LABS = Path("/run/penha-lab")


def lab_name(cmd: str, state_dir: Path | None) -> str:
    """No --name: the lab in --state-dir; else for `up` a fresh name (never a leftover lab's
    namespaces or state), remembered in /run/penha-lab/current for the commands that follow."""
    if state_dir is not None and (state_dir / "lab.json").exists():
        return str(json.loads((state_dir / "lab.json").read_text())["name"])
    if cmd == "up":
        return f"penlab{os.getpid() % 100000}"
    try:
        return (LABS / "current").read_text().strip() or "penlab"
    except OSError:
        return "penlab"


if __name__ == "__main__":
    sys.exit(main())
