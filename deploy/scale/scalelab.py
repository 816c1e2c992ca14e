"""The scale-out lab (issue 12): N pen nodes in network namespaces, active-active VRRP or ECMP.

    lab [--name NAME] up [--mode vrrp|ecmp] [--nodes N] | down | status | kill NODE
        | kill-pen NODE | start NODE [--nopreempt] | exec NODE -- CMD... | client [-n COUNT]

Namespaces (NAME- prefix; several labs run side by side with different names):

    NAME-sw   switch: bridge br0 (front LAN 192.0.2.0/24), bridge br1 (backend LAN 198.51.100.0/24)
    NAME-r    router: eth0 192.0.2.1 on br0, eth1 203.0.113.1/25 to the clients; ip_forward,
              fib_multipath_hash_policy=1; in ecmp mode bird2 with a BGP session per node
    NAME-c    clients: 203.0.113.2 and 203.0.113.10-109 (one address per simulated client)
    NAME-nI   pen node I: eth0 192.0.2.(10+I), eth1 198.51.100.(10+I), default via the router;
              vrrp: pen + penvrrp (VIP I = 192.0.2.(100+I) owned, the others backed up)
              ecmp: 203.0.113.200/32 on lo, pen, bird2, pen-bgp-health
    NAME-be   backends web1..3 at 198.51.100.21-23:8080 (labbackend.py)

Every config comes from scaleconf.py, the generator of the files shipped in deploy/scale/, with
lab paths and faster timers (VRRP adverts 0.2 s, BGP keepalive 1 s / hold 3 s / retry 1 s).
Processes are recorded by pid and stopped by pid; `down` removes the namespaces.  Needs root.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))

import scaleconf as conf  # noqa: E402


def _ha_lab():
    """deploy/lab/lab.py (the two-node lab): its namespace socket, run and wait helpers."""
    spec = importlib.util.spec_from_file_location("penha_deploy_lab", REPO / "deploy/lab/lab.py")
    if "penha_deploy_lab" in sys.modules:
        return sys.modules["penha_deploy_lab"]
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules["penha_deploy_lab"] = mod
    spec.loader.exec_module(mod)
    return mod


_lab = _ha_lab()
LabError = _lab.LabError
run = _lab.run
wait_for = _lab.wait_for
ns_socket = _lab.ns_socket

CLIENT_MAIN = f"{conf.CLIENT_NET}.2"
CLIENT_ADDRS = [f"{conf.CLIENT_NET}.{i}" for i in range(10, 110)]
LAB_TIMERS = conf.Timers(advert_int=0.2, track_interval=0.2, hold=3, keepalive=1,
                         connect_retry=1, error_wait=(1, 5), garp_delay=1,
                         bfd_interval_ms=100, bfd_multiplier=3)
MODES = ("vrrp", "ecmp")
MAX_NODES = 9


class ScaleLab:
    def __init__(self, name: str, state_dir: Path, bindir: Path, mode: str = "vrrp",
                 nodes: int = 3, python: str = sys.executable, peers: bool = False) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,30}", name):
            raise LabError(f"bad lab name {name!r}: letters, digits, _ . - only, at most 30")
        if mode not in MODES:
            raise LabError(f"mode {mode!r}: one of {', '.join(MODES)}")
        if not 3 <= nodes <= MAX_NODES:
            raise LabError(f"--nodes {nodes}: 3 to {MAX_NODES}")
        self.name, self.dir, self.bin, self.mode, self.nodes = name, state_dir, bindir, mode, nodes
        self.python = python
        self.peers = peers     # client tracking, the nodes' tables shared by pen peers

    @classmethod
    def load(cls, name: str, state_dir: Path) -> ScaleLab:
        """The lab `up` created, from its saved settings."""
        try:
            saved = json.loads((state_dir / "lab.json").read_text())
        except (OSError, ValueError):
            raise LabError(f"lab {name!r} is not up (no {state_dir}/lab.json)") from None
        return cls(name, state_dir, Path(saved["bin"]), saved["mode"], saved["nodes"],
                   saved["python"], saved.get("peers", False))

    # -- names --------------------------------------------------------------------------------
    def ns(self, short: str) -> str:
        return f"{self.name}-{short}"

    @property
    def sw(self) -> str:
        return self.ns("sw")

    @property
    def router(self) -> str:
        return self.ns("r")

    @property
    def client_ns(self) -> str:
        return self.ns("c")

    def node_ns(self, i: int) -> str:
        return self.ns(f"n{i}")

    def node_index(self, text: str) -> int:
        m = re.fullmatch(r"(?:node|n)?(\d+)", text)
        if not m or not 1 <= int(m.group(1)) <= self.nodes:
            raise LabError(f"no node {text!r}: node1 .. node{self.nodes}")
        return int(m.group(1))

    def ndir(self, i: int) -> Path:
        return self.dir / f"node{i}"

    def namespaces(self) -> list[str]:
        out = run("ip", "netns", "list", check=False).stdout
        return [w[0] for w in (line.split() for line in out.splitlines())
                if w and w[0].startswith(self.name + "-")
                and w[0][len(self.name) + 1:] in {"sw", "r", "c", "be", *(f"n{i}" for i in range(1, MAX_NODES + 1))}]

    # -- building -----------------------------------------------------------------------------
    def up(self) -> None:
        if self.namespaces():
            raise LabError(f"lab {self.name!r} is already up; `down` it first")
        for prog in ("pen", "penctl", "penvrrp"):
            if not os.access(self.bin / prog, os.X_OK):
                raise LabError(f"{self.bin / prog} missing: run scripts/setup.sh, or give --bin")
        if self.mode == "ecmp" and not (shutil.which("bird") and shutil.which("birdc")):
            raise LabError("bird2 missing: apt-get install bird2")
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True, mode=0o755)
        (self.dir / "lab.json").write_text(json.dumps({
            "name": self.name, "bin": str(self.bin), "mode": self.mode, "nodes": self.nodes,
            "python": self.python, "peers": self.peers}))
        if self.peers:
            (self.dir / "peer.key").write_text(os.urandom(32).hex() + "\n")
        try:
            self._network()
            self._backends()
            if self.mode == "ecmp":
                self._router_bird()
            for i in range(1, self.nodes + 1):
                self.ndir(i).mkdir()
                self.start(i, wait=False)
            self.wait_converged()
        except BaseException:
            self.down(quiet=True)
            raise

    def _network(self) -> None:
        sw, r, c, be = self.sw, self.router, self.client_ns, self.ns("be")
        for ns in (sw, r, c, be, *(self.node_ns(i) for i in range(1, self.nodes + 1))):
            run("ip", "netns", "add", ns)
            run("ip", "-n", ns, "link", "set", "lo", "up")
        for br in ("br0", "br1"):
            run("ip", "-n", sw, "link", "add", br, "type", "bridge")
            run("ip", "-n", sw, "link", "set", br, "up")

        def plug(ns: str, dev: str, port: str, bridge: str, addr: str) -> None:
            run("ip", "-n", ns, "link", "add", dev, "type", "veth", "peer", "name", port, "netns", sw)
            run("ip", "-n", sw, "link", "set", port, "master", bridge, "up")
            run("ip", "-n", ns, "addr", "add", addr, "dev", dev)
            run("ip", "-n", ns, "link", "set", dev, "up")

        plug(r, "eth0", "fr", "br0", f"{conf.ROUTER}/24")
        run("ip", "-n", r, "link", "add", "eth1", "type", "veth", "peer", "name", "eth0", "netns", c)
        run("ip", "-n", r, "addr", "add", f"{conf.CLIENT_NET}.1/25", "dev", "eth1")
        run("ip", "-n", r, "link", "set", "eth1", "up")
        self._sysctl(r, {"net.ipv4.ip_forward": "1", "net.ipv4.fib_multipath_hash_policy": "1"})
        batch = [f"addr add {CLIENT_MAIN}/25 dev eth0"]
        batch += [f"addr add {a}/25 dev eth0" for a in CLIENT_ADDRS]
        batch += ["link set eth0 up", f"route add default via {conf.CLIENT_NET}.1"]
        subprocess.run(["ip", "-n", c, "-batch", "-"], input="\n".join(batch) + "\n", text=True,
                       check=True, capture_output=True, timeout=20)
        plug(be, "eth0", "bb", "br1", f"{conf.BACKENDS[0]}/24")
        for addr in conf.BACKENDS[1:]:
            run("ip", "-n", be, "addr", "add", f"{addr}/24", "dev", "eth0")
        for i in range(1, self.nodes + 1):
            ns = self.node_ns(i)
            plug(ns, "eth0", f"f{i}", "br0", f"{conf.node_addr(i)}/24")
            plug(ns, "eth1", f"b{i}", "br1", f"{conf.node_back_addr(i)}/24")
            run("ip", "-n", ns, "route", "add", "default", "via", conf.ROUTER)
            # as deploy/ha-example/balancer/etc/sysctl.d/60-pen-ha.conf: ARP from the primary
            # address only.  Without it a killed node whose VIP is still configured (no
            # ExecStopPost in this lab) resolved the router from the VIP when its links came
            # back ("who-has 192.0.2.1 tell 192.0.2.101"), and the router sent the VIP's
            # traffic to it before its penvrrp ran: 26-45 requests lost on preemption.
            self._sysctl(ns, {"net.ipv4.conf.all.arp_ignore": "1", "net.ipv4.conf.all.arp_announce": "2"})
            if self.mode == "ecmp":
                run("ip", "-n", ns, "addr", "add", f"{conf.ANYCAST}/32", "dev", "lo")

    @staticmethod
    def _sysctl(ns: str, values: dict[str, str]) -> None:
        for key, value in values.items():
            run("ip", "netns", "exec", ns, "sysctl", "-q", "-w", f"{key}={value}")

    def _backends(self) -> None:
        specs = [f"web{k}={addr}:{conf.BACKEND_PORT}" for k, addr in enumerate(conf.BACKENDS, 1)]
        self.spawn(self.ns("be"), self.dir / "backends", [self.python, str(HERE / "labbackend.py"), *specs])
        for addr in conf.BACKENDS:
            wait_for(lambda a=addr: _lab.can_connect(self.ns("be"), a, conf.BACKEND_PORT), 10,
                     f"backend {addr}")

    def _router_bird(self) -> None:
        d = self.dir / "router"
        d.mkdir(exist_ok=True)
        text = conf.bird_router(self.nodes, LAB_TIMERS, conf.Paths(bird_log=str(d / "bird.log")))
        (d / "bird.conf").write_text(text)
        self.spawn(self.router, d / "bird", ["bird", "-f", "-c", str(d / "bird.conf"),
                                            "-s", str(d / "bird.ctl"), "-P", str(d / "bird.pid")])
        wait_for(lambda: (d / "bird.ctl").exists(), 10, "router bird's control socket")

    # -- processes ----------------------------------------------------------------------------
    def spawn(self, ns: str, base: Path, argv: list[str], env: dict[str, str] | None = None) -> int:
        """Start argv in namespace ns; output in BASE.out, pid in BASE.lab-pid."""
        with open(base.with_suffix(".out"), "ab") as out:
            proc = subprocess.Popen(["ip", "netns", "exec", ns, *argv], stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=out, start_new_session=True,
                                    env={**os.environ, **(env or {})})
        base.with_suffix(".lab-pid").write_text(f"{proc.pid}\n")
        return proc.pid

    @staticmethod
    def pid(base: Path) -> int | None:
        """The recorded pid, if that process is still alive (not a zombie)."""
        try:
            pid = int(base.with_suffix(".lab-pid").read_text())
            stat = Path(f"/proc/{pid}/stat").read_text()
        except (OSError, ValueError):
            return None
        return None if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X") else pid

    def stop_proc(self, base: Path, sig: int = signal.SIGTERM) -> None:
        pid = self.pid(base)
        if pid:
            os.kill(pid, sig)
            try:
                wait_for(lambda: not self.pid(base), 5, f"{base.name} to exit")
            except LabError:
                os.kill(pid, signal.SIGKILL)
                wait_for(lambda: not self.pid(base), 5, f"{base.name} to die")
        base.with_suffix(".lab-pid").unlink(missing_ok=True)

    def programs(self, i: int) -> tuple[str, ...]:
        return ("pen", "penvrrp") if self.mode == "vrrp" else ("bird", "pen", "health")

    def start(self, i: int, preempt: bool = True, wait: bool = True) -> None:
        """Start whatever of node i is not running (after `kill`: everything, its links up
        first; after `kill-pen`: pen only, and penvrrp / the health hook bring it back)."""
        d, ns = self.ndir(i), self.node_ns(i)
        if all(self.pid(d / p) for p in self.programs(i)):
            raise LabError(f"node{i} is running")
        self.links(i, up=True)
        if not self.pid(d / "pen"):
            (d / "pen.cfg").write_text(conf.pen_cfg(tracking=self.peers))
            peers = conf.peer_options(i, self.nodes, str(self.dir / "peer.key")) if self.peers else []
            self.spawn(ns, d / "pen", [str(self.bin / "pen"), "-f", "-C", conf.CONTROL, "-F",
                                       str(d / "pen.cfg"), "-x", "4096", "-c", "8192", *peers,
                                       f"0.0.0.0:{conf.LISTEN_PORT}"])
            wait_for(lambda: self.pen_ok(i), 10, f"node{i} pen to answer on {conf.CONTROL}")
        if self.mode == "vrrp" and not self.pid(d / "penvrrp"):
            toml = conf.penvrrp_toml(i, self.nodes, LAB_TIMERS,
                                     conf.Paths(state_file=str(d / "state.json")), preempt)
            (d / "penvrrp.toml").write_text(toml)
            (d / "state.json").unlink(missing_ok=True)
            self.spawn(ns, d / "penvrrp", [str(self.bin / "penvrrp"), "-f", "-c", str(d / "penvrrp.toml")])
            wait_for(lambda: len(self.vrrp_states(i)) == self.nodes, 10, f"node{i} penvrrp")
        if self.mode == "ecmp" and not self.pid(d / "bird"):
            bconf = conf.bird_node(i, LAB_TIMERS, conf.Paths(bird_log=str(d / "bird.log")))
            (d / "bird.conf").write_text(bconf)
            (d / "bird.ctl").unlink(missing_ok=True)
            self.spawn(ns, d / "bird", ["bird", "-f", "-c", str(d / "bird.conf"),
                                        "-s", str(d / "bird.ctl"), "-P", str(d / "bird.pid")])
            wait_for(lambda: (d / "bird.ctl").exists(), 10, f"node{i} bird's control socket")
        if self.mode == "ecmp" and not self.pid(d / "health"):
            self.spawn(ns, d / "health", [self.python, str(HERE / "pen-bgp-health"),
                                          "--control", conf.CONTROL, "-s", str(d / "bird.ctl"),
                                          "--interval", "0.2", "--reassert", "1"])
        if wait:
            self.wait_converged(owners=preempt)

    def pen_ok(self, i: int) -> bool:
        try:
            with ns_socket(self.node_ns(i)) as s:
                s.settimeout(1)
                host, port = conf.CONTROL.split(":")
                s.connect((host, int(port)))
                s.sendall(b"pid\n")
                return s.recv(64).strip().isdigit()
        except OSError:
            return False

    def links(self, i: int, up: bool) -> None:
        for port in (f"f{i}", f"b{i}"):
            run("ip", "-n", self.sw, "link", "set", port, "up" if up else "down")

    def kill(self, i: int) -> None:
        """Node failure: SIGKILL its programs and cut its links (as if powered off: nothing
        cleans up, its stale VIPs/anycast address are unreachable, its BGP session times out)."""
        self.links(i, up=False)          # first: a dying bird's TCP FIN must not reach the router
        for prog in self.programs(i):
            self.stop_proc(self.ndir(i) / prog, signal.SIGKILL)

    def kill_pen(self, i: int) -> None:
        """Only pen dies (SIGKILL); the node, its penvrrp / bird / health hook keep running."""
        self.stop_proc(self.ndir(i) / "pen", signal.SIGKILL)

    def down(self, quiet: bool = False) -> None:
        if self.dir.exists():
            for base in sorted(self.dir.glob("**/*.lab-pid")):
                self.stop_proc(base.with_suffix(""), signal.SIGKILL)
        for ns in self.namespaces():
            for pid in run("ip", "netns", "pids", ns, check=False).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)    # only ever processes this lab started
                except (OSError, ValueError):
                    pass
        for ns in self.namespaces():
            run("ip", "netns", "del", ns, check=False)
        if not quiet:
            print(f"lab {self.name} down (logs kept in {self.dir})")

    # -- observation --------------------------------------------------------------------------
    def vrrp_states(self, i: int) -> dict[str, str]:
        """VIP instance name -> state, from node i's penvrrp state file ({} if not running)."""
        if not self.pid(self.ndir(i) / "penvrrp"):
            return {}
        try:
            doc = json.loads((self.ndir(i) / "state.json").read_text())
        except (OSError, ValueError):
            return {}
        return {inst["name"]: inst["state"] for inst in doc.get("instances", [])}

    def vip_holders(self, k: int) -> list[int]:
        """Live nodes whose penvrrp holds VIP k as MASTER."""
        return [i for i in range(1, self.nodes + 1) if self.vrrp_states(i).get(f"VIP{k}") == "MASTER"]

    def ecmp_nexthops(self) -> list[str]:
        """The router's next hops for the anycast address (one per announcing node)."""
        res = run("ip", "-n", self.router, "-j", "route", "show", f"{conf.ANYCAST}/32", check=False)
        try:
            routes = json.loads(res.stdout or "[]")
        except ValueError:
            return []
        hops: list[str] = []
        for r in routes:
            if "nexthops" in r:
                hops += [h["gateway"] for h in r["nexthops"] if "gateway" in h]
            elif "gateway" in r:
                hops.append(r["gateway"])
        return sorted(hops, key=lambda a: int(a.rsplit(".", 1)[1]))

    def healthy_nodes(self) -> list[int]:
        return [i for i in range(1, self.nodes + 1) if self.pid(self.ndir(i) / "pen")]

    def converged(self, owners: bool = True) -> bool:
        """ecmp: one route per node whose pen runs.  vrrp: every VIP has exactly one master
        and, with `owners`, every live node holds its own VIP (preemption)."""
        live = self.healthy_nodes()
        if self.mode == "ecmp":
            return self.ecmp_nexthops() == [conf.node_addr(i) for i in live]
        if any(len(self.vip_holders(k)) != 1 for k in range(1, self.nodes + 1)):
            return False
        return not owners or all(self.vip_holders(i) == [i] for i in live)

    def wait_converged(self, timeout: float = 20, owners: bool = True) -> None:
        wait_for(lambda: self.converged(owners), timeout, "the lab to converge (every VIP on "
                 f"one master / one route per healthy node); see {self.dir}")

    def birdc(self, i: int | None, *cmd: str) -> str:
        """birdc on node i (None: the router)."""
        d, ns = (self.dir / "router", self.router) if i is None else (self.ndir(i), self.node_ns(i))
        return run("ip", "netns", "exec", ns, "birdc", "-s", str(d / "bird.ctl"), *cmd,
                   check=False).stdout

    def status(self) -> None:
        print(f"lab {self.name}: mode {self.mode}, {self.nodes} nodes, state in {self.dir}")
        for i in range(1, self.nodes + 1):
            procs = " ".join(f"{p}:{self.pid(self.ndir(i) / p) or 'DOWN'}" for p in self.programs(i))
            extra = ""
            if self.mode == "vrrp":
                extra = " ".join(f"{k}={v}" for k, v in sorted(self.vrrp_states(i).items()))
            print(f"  node{i} {conf.node_addr(i):13} {procs}  {extra}")
        if self.mode == "vrrp":
            for k in range(1, self.nodes + 1):
                held = self.vip_holders(k)
                print(f"  VIP{k} {conf.vip(k)} on: {' '.join(f'node{h}' for h in held) or 'NOBODY'}")
        else:
            hops = self.ecmp_nexthops()
            print(f"  router: {conf.ANYCAST}/32 via {' '.join(hops) or 'NO ROUTE'}")
            print(self.birdc(None, "show", "protocols").rstrip())

    def exec(self, i: int, cmd: list[str]) -> int:
        env = {**os.environ, "PATH": f"{self.bin}:{os.environ.get('PATH', '/usr/sbin:/usr/bin')}"}
        return subprocess.run(["ip", "netns", "exec", self.node_ns(i), *cmd], env=env).returncode


# -- command line -------------------------------------------------------------------------------
def _cli():
    import click

    @click.group(context_settings={"help_option_names": ["--help"]})
    @click.option("--name", default=lambda: os.environ.get("PENHA_SCALE_NAME", "penscale"),
                  show_default="$PENHA_SCALE_NAME or penscale",
                  help="Namespace prefix: several labs run side by side with different names.")
    @click.option("--state-dir", type=click.Path(path_type=Path), default=None,
                  help="Configs, pids, logs [default /run/penha-scale/NAME].")
    @click.option("--bin", "bindir", type=click.Path(path_type=Path),
                  default=lambda: os.environ.get("PENHA_BIN", str(REPO / ".venv" / "bin")),
                  help="Where pen, penctl, penvrrp are [$PENHA_BIN or the repo's .venv/bin].")
    @click.pass_context
    def main(ctx: click.Context, name: str, state_dir: Path | None, bindir: Path) -> None:
        """The pen-ha scale-out lab: N pen nodes, active-active VRRP or ECMP with bird2."""
        if os.geteuid() != 0:
            raise click.ClickException("needs root (network namespaces)")
        ctx.obj = (name, (state_dir or Path(f"/run/penha-scale/{name}")).resolve(), Path(bindir).resolve())

    def loaded(ctx: click.Context) -> ScaleLab:
        name, state, _ = ctx.obj
        return ScaleLab.load(name, state)

    def guard(fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*a, **kw):
            try:
                return fn(*a, **kw)
            except LabError as e:
                raise click.ClickException(str(e)) from None
        return wrapper

    @main.command()
    @click.option("--mode", type=click.Choice(MODES), default="vrrp", show_default=True)
    @click.option("--nodes", type=click.IntRange(3, MAX_NODES), default=3, show_default=True)
    @click.option("--peers", is_flag=True,
                  help="Client tracking instead of consistent hashing, the nodes' client tables "
                       "shared by pen peers (docs/peers.md).")
    @click.pass_context
    @guard
    def up(ctx: click.Context, mode: str, nodes: int, peers: bool) -> None:
        """Build the lab and start everything; returns once it has converged."""
        name, state, bindir = ctx.obj
        lab = ScaleLab(name, state, bindir, mode, nodes, sys.executable, peers)
        lab.up()
        lab.status()

    @main.command()
    @click.pass_context
    @guard
    def down(ctx: click.Context) -> None:
        """Stop everything and delete the namespaces (logs are kept)."""
        name, state, bindir = ctx.obj
        try:
            lab = ScaleLab.load(name, state)
        except LabError:
            lab = ScaleLab(name, state, bindir)
        lab.down()

    @main.command()
    @click.pass_context
    @guard
    def status(ctx: click.Context) -> None:
        """Processes, VRRP states and VIP holders, or the router's ECMP route and BGP sessions."""
        loaded(ctx).status()

    @main.command()
    @click.argument("node")
    @click.pass_context
    @guard
    def kill(ctx: click.Context, node: str) -> None:
        """Node failure: SIGKILL its programs and cut its links."""
        lab = loaded(ctx)
        lab.kill(lab.node_index(node))

    @main.command("kill-pen")
    @click.argument("node")
    @click.pass_context
    @guard
    def kill_pen(ctx: click.Context, node: str) -> None:
        """Only pen dies on NODE (penvrrp / bird / the health hook react)."""
        lab = loaded(ctx)
        lab.kill_pen(lab.node_index(node))

    @main.command()
    @click.argument("node")
    @click.option("--nopreempt", is_flag=True, help="vrrp: the node does not take its VIP back.")
    @click.pass_context
    @guard
    def start(ctx: click.Context, node: str, nopreempt: bool) -> None:
        """Start a killed node (or restart pen after kill-pen)."""
        lab = loaded(ctx)
        i = lab.node_index(node)
        lab.start(i, preempt=not nopreempt)

    @main.command(context_settings={"ignore_unknown_options": True})
    @click.argument("node")
    @click.argument("cmd", nargs=-1, required=True, type=click.UNPROCESSED)
    @click.pass_context
    @guard
    def exec(ctx: click.Context, node: str, cmd: tuple[str, ...]) -> None:
        """Run a command on a node (pen-ha's programs first on PATH): exec node1 -- penctl ..."""
        lab = loaded(ctx)
        sys.exit(lab.exec(lab.node_index(node), list(cmd)))

    @main.command()
    @click.option("-n", "count", default=300, show_default=True, help="Connections per address.")
    @click.pass_context
    @guard
    def client(ctx: click.Context, count: int) -> None:
        """COUNT connections from the client namespace to each VIP (vrrp) or to the anycast
        address (ecmp), from 100 client addresses; per node and per backend counts."""
        from collections import Counter

        from scaleclient import fetch
        lab = loaded(ctx)
        targets = ([conf.vip(k) for k in range(1, lab.nodes + 1)] if lab.mode == "vrrp"
                   else [conf.ANYCAST])
        for host in targets:
            nodes: Counter[str] = Counter()
            backends: Counter[str] = Counter()
            for n in range(count):
                r = fetch(lab.client_ns, host, src=CLIENT_ADDRS[n % len(CLIENT_ADDRS)], timeout=0.5)
                nodes[f"node{r.node}" if r else "FAILED"] += 1
                backends[r.backend if r else "FAILED"] += 1
            print(f"{host}: nodes {dict(sorted(nodes.items()))}  backends {dict(sorted(backends.items()))}")

    return main


if __name__ == "__main__":
    _cli()()
