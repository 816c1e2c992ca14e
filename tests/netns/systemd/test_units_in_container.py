"""deploy/systemd's units under a real systemd (issue 15, item 9): a Debian 12 root made with
debootstrap (scripts/systemd-root.sh) boots in systemd-nspawn, deploy/install.sh installs
pen-ha into it from wheels of this checkout, and the units are used as an operator would.

Shown: socket activation (the first connection to pen.socket starts pen.service, which adopts
the `listen` and `control` sockets), Type=notify (a start or reload returns once pen said
READY=1; STATUS= is shown), `systemctl reload pen` re-reading pen.cfg (and refusing a bad
one, logged at warning priority in the journal), penvrrp's watchdog (a frozen agent is
killed, ExecStopPost resigns and removes its VIP, Restart= brings it back to MASTER), and a
clean stop.  Never systemd on the machine itself: only in the container, whose root is its own
(DEVELOPERS.md).  The container's network is a namespace made here (eth0, 192.0.2.11/24).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.procs import wait_for

REPO = Path(__file__).resolve().parents[3]

pytestmark = [pytest.mark.root, pytest.mark.netns, pytest.mark.slow,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root for a container"),
              pytest.mark.skipif(not (shutil.which("systemd-nspawn") and shutil.which("debootstrap")),
                                 reason="systemd-container and debootstrap (scripts/setup.sh)")]

CLEAN_ENV = ["env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"]


class Container:
    """A booted container: `sh(script)` runs in all its namespaces, as root inside."""

    def __init__(self, init_pid: int) -> None:
        self.init_pid = init_pid

    def run(self, *argv: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(["nsenter", "-t", str(self.init_pid), "-a", *CLEAN_ENV, *argv],
                             capture_output=True, text=True, timeout=timeout)
        if check and res.returncode != 0:
            raise AssertionError(f"{argv} exited {res.returncode}\n{res.stdout}\n{res.stderr}\n"
                                 + self.journal())
        return res

    def sh(self, script: str, check: bool = True, timeout: float = 60) -> str:
        return self.run("sh", "-c", script, check=check, timeout=timeout).stdout

    def show(self, unit: str, prop: str) -> str:
        return self.sh(f"systemctl show -p {prop} --value {unit}").strip()

    def journal(self, *args: str) -> str:
        res = subprocess.run(["nsenter", "-t", str(self.init_pid), "-a", *CLEAN_ENV, "journalctl", "-b",
                              "--no-pager", "-o", "short-monotonic", *args],
                             capture_output=True, text=True, timeout=30)
        return res.stdout[-6000:]


def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isascii() and entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(entry.name))
    return kids


def _init_of(nspawn: subprocess.Popen[bytes]) -> int | None:
    """The container's PID 1 as the host sees it: the process named systemd below nspawn
    (its child, or its grandchild while nspawn's own helper still runs)."""
    kids = _children(nspawn.pid)
    for pid in kids + [g for k in kids for g in _children(k)]:
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == "systemd":
                return pid
        except OSError:
            pass
    return None


@pytest.fixture
def container(tmp_path: Path) -> Iterator[Container]:
    root = subprocess.run([str(REPO / "scripts" / "systemd-root.sh")], capture_output=True, text=True,
                          timeout=900)
    assert root.returncode == 0, f"scripts/systemd-root.sh failed:\n{root.stderr}"
    wheels = tmp_path / "wheels"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check",
                            "-w", str(wheels), f"{REPO}[vrrp]"], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    ns, peer = f"ct{os.getpid() % 100000}", f"ctp{os.getpid() % 100000}"
    for cmd in (["ip", "netns", "add", ns], ["ip", "netns", "add", peer],
                ["ip", "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", "peer0", "netns", peer],
                ["ip", "-n", ns, "link", "set", "lo", "up"],
                ["ip", "-n", ns, "addr", "add", "192.0.2.11/24", "dev", "eth0"],
                ["ip", "-n", ns, "link", "set", "eth0", "up"],
                ["ip", "-n", peer, "addr", "add", "192.0.2.12/24", "dev", "peer0"],
                ["ip", "-n", peer, "link", "set", "peer0", "up"]):
        subprocess.run(cmd, check=True, capture_output=True, timeout=10)
    console = open(tmp_path / "console.log", "wb")
    # --volatile=overlay: the root stays as built, every change lives in a tmpfs overlay.
    # CAP_NET_ADMIN: nspawn grants it only with a private network of its own making;
    # penvrrp.service needs it (AmbientCapabilities) to add and remove the VIP.
    nspawn = subprocess.Popen(
        ["systemd-nspawn", "-q", "-D", root.stdout.strip(), "--volatile=overlay", "--register=no",
         "--keep-unit", "--capability=CAP_NET_ADMIN", f"--network-namespace-path=/run/netns/{ns}",
         f"--bind-ro={REPO}:/src", f"--bind-ro={wheels}:/wheels", "--boot"],
        stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT, start_new_session=True)
    init: int | None = None
    try:
        init = wait_for(lambda: _init_of(nspawn), 30, 0.05, "the container's systemd")
        ct = Container(init)

        def booted() -> bool:
            state = ct.run("systemctl", "is-system-running", check=False).stdout.strip()
            return state in ("running", "degraded")
        wait_for(booted, 60, 0.1, "the container to finish booting")
        yield ct
    finally:
        init = init or _init_of(nspawn)
        nspawn.terminate()                         # nspawn: a clean shutdown of the container
        try:
            nspawn.wait(30)
        except subprocess.TimeoutExpired:
            nspawn.kill()
            nspawn.wait(10)
        if init is not None:                       # the container's init outlives a killed nspawn
            try:
                os.kill(init, signal.SIGKILL)
            except ProcessLookupError:
                pass
            wait_for(lambda: not Path(f"/proc/{init}").exists(), 10, 0.05, "the container's init to end")
        console.close()
        for name in (ns, peer):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)


def _get(ct: Container, port: int) -> str:
    return ct.run("python3", "-c", f"""
import socket
s = socket.create_connection(("127.0.0.1", {port}), timeout=5)
s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
print(s.recv(64).decode().splitlines()[0])
""").stdout.strip()


@pytest.mark.timeout(900)
def test_the_units_under_systemd(container: Container) -> None:
    ct = container
    assert ct.run("systemctl", "--failed", "--no-legend").stdout.strip() == "", "units failed at boot"

    # -- install as deploy/README.md says, then the example's files ------------------------
    out = ct.sh("/src/deploy/install.sh --no-index --find-links /wheels 'pen-ha[vrrp]' && systemctl daemon-reload")
    assert "install.sh: pen-ha " in out and " in /opt/pen-ha," in out, out
    ct.sh("""set -e
mkdir -p /etc/pen-ha
cp /src/deploy/ha-example/balancer/etc/pen-ha/* /etc/pen-ha/
cp /src/deploy/ha-example/lb1/etc/pen-ha/penvrrp.toml /etc/pen-ha/
# socket activation: pen takes its listener from pen.socket; no peers in a one-node container
sed -i 's/^PEN_LISTEN=.*/PEN_LISTEN=/; s/^PEN_PEERS=.*/PEN_PEERS=/' /etc/pen-ha/pen.env
grep -v '^server' /etc/pen-ha/pen.cfg > /tmp/pen.cfg
echo 'server 0 address 127.0.0.1 port 8081' >> /tmp/pen.cfg
cp /tmp/pen.cfg /etc/pen-ha/pen.cfg
systemd-run -q --unit=web python3 -m http.server --bind 127.0.0.1 8081
""")
    wait_for(lambda: ct.sh("ss -Htln 'sport = :8081'").strip(), 20, 0.1, "the backend")

    # -- socket activation: the first connection starts pen ----------------------------------
    ct.sh("systemctl enable -q --now pen.socket pen-control.socket")
    assert ct.show("pen.service", "ActiveState") == "inactive"
    assert _get(ct, 80) == "HTTP/1.0 200 OK", ct.journal("-u", "pen")
    assert ct.show("pen.service", "ActiveState") == "active"
    assert "pen.socket" in ct.show("pen.service", "TriggeredBy")
    assert ct.show("pen.service", "StatusText").startswith("balancing on 0.0.0.0:80"), ct.journal("-u", "pen")
    servers = ct.sh("/opt/pen-ha/bin/penctl 127.0.0.1:10080 servers")      # through pen-control.socket
    assert servers.startswith("0 addr 127.0.0.1 port 8081 "), servers
    pid = ct.show("pen.service", "MainPID")

    # -- reload: returns once pen re-read pen.cfg (RELOADING=1 ... READY=1) -------------------
    ct.sh("echo 'server 1 address 127.0.0.1 port 8082' >> /etc/pen-ha/pen.cfg && systemctl reload pen")
    servers = ct.sh("/opt/pen-ha/bin/penctl 127.0.0.1:10080 servers")      # at once, no waiting
    assert "\n1 addr 127.0.0.1 port 8082 " in servers, servers
    assert ct.show("pen.service", "MainPID") == pid
    ct.sh("echo 'server 2 adress 127.0.0.1 port 8083' >> /etc/pen-ha/pen.cfg && systemctl reload pen")
    assert ct.show("pen.service", "ActiveState") == "active"
    assert "\n2 addr" not in ct.sh("/opt/pen-ha/bin/penctl 127.0.0.1:10080 servers")
    refused = ct.journal("-u", "pen", "-p", "warning")                    # `<N>` priorities reach journald
    assert "pen.cfg" in refused and "adress" in refused, refused
    assert _get(ct, 80) == "HTTP/1.0 200 OK"                                # still serving

    # -- penvrrp: Type=notify, MASTER with the VIP, then the watchdog -------------------------
    ct.sh("systemctl start penvrrp")
    assert ct.show("penvrrp.service", "ActiveState") == "active"
    assert ct.show("penvrrp.service", "StatusText") != ""

    def holds_vip() -> bool:
        return " 192.0.2.100/24" in ct.sh("ip -br -4 addr show dev eth0")
    wait_for(holds_vip, 20, 0.1, "penvrrp to become MASTER and add the VIP")
    assert "MASTER" in ct.sh("/opt/pen-ha/bin/penvrrp status", check=False)
    frozen = ct.show("penvrrp.service", "MainPID")
    ct.sh("systemctl kill --kill-whom=main -s SIGSTOP penvrrp")
    wait_for(lambda: not holds_vip(), 20, 0.1, "the watchdog kill and ExecStopPost's cleanup")
    wait_for(lambda: ct.show("penvrrp.service", "NRestarts") == "1", 20, 0.1, "Restart= to start penvrrp again")
    wait_for(holds_vip, 30, 0.1, "the restarted penvrrp to take the VIP again")
    assert ct.show("penvrrp.service", "MainPID") != frozen
    log = ct.journal("-u", "penvrrp")
    assert "Watchdog timeout" in log and "resigned and removed 192.0.2.100/24" in log, log
    assert "warning: without CAP_" not in log, log          # the unit's ambient set is enough

    # -- a clean stop: pen exits 0 on SIGTERM, penvrrp resigns --------------------------------
    t0 = time.monotonic()
    ct.sh("systemctl stop penvrrp pen.service pen.socket pen-control.socket")
    assert time.monotonic() - t0 < 20
    assert ct.show("pen.service", "Result") == "success", ct.journal("-u", "pen")
    assert not holds_vip()
