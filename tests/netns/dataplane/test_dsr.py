"""Direct Server Return and the tarpit in namespaces (docs/dataplane.md "Direct Server Return"; issue 11).

One bridge (in its own namespace) joins a client (192.0.2.10), the director running pen with
`dsr_if eth0` (192.0.2.1) and two backends (192.0.2.21, .22) that hold the VIP 192.0.2.100 on
lo with arp_ignore=1 / arp_announce=2.  tcpdump on the client shows the replies from the VIP
arriving from the backends' MACs, not the director's, and on the backend the client's frames
arriving from the director's MAC with the client's own address; the backends see the real
client address.  192.0.2.200 is tarpitted: a SYN to any port gets pen's forged SYN+ACK
(seq 42) and the connection is then held, answered by nothing.
"""
from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from pen.core import dsr
from support.procs import PEN, wait_for
from support.dataplane import Lab, lab

pytestmark = [pytest.mark.netns, pytest.mark.root]

VIP = "192.0.2.100"
TARPIT = "192.0.2.200"
BACKENDS = {"b1": "192.0.2.21", "b2": "192.0.2.22"}

ASK = f"""
import socket
seen = []
for port in PORTS:
    s = socket.create_connection(("{VIP}", 80), timeout=5, source_address=("", port))
    data = b""
    while not data.endswith(b"\\n"):
        chunk = s.recv(100)
        if not chunk:
            break
        data += chunk
    s.sendall(b"ping\\n")
    assert s.recv(100) == b"ping\\n"
    s.close()
    seen.append(data.decode().split()[1] + "@" + data.decode().split()[3])
print(" ".join(seen))
"""


def ask(n: int, ports: list[int] | None = None) -> str:
    """The client's code: n connections, from the given source ports (0: the kernel's)."""
    return ASK.replace("PORTS", repr(ports if ports is not None else [0] * n))


def ports_for_each_backend(per_server: int) -> list[int]:
    """Client source ports that dsr.c's hash (-r: address and port bytes) spreads over both
    backends, `per_server` each: which server a port reaches is the hash's, not chance's."""
    index = dsr.hash_index([0] * len(BACKENDS))
    assert index is not None
    chosen: dict[int, list[int]] = {i: [] for i in range(len(BACKENDS))}
    src = socket.inet_aton("192.0.2.10")
    for port in range(41000, 42000):
        server = index[dsr.dsr_hash(src, port, True)]
        if len(chosen[server]) < per_server:
            chosen[server].append(port)
    return [p for pair in zip(*chosen.values()) for p in pair]


@pytest.fixture
def segment(tmp_path: Path) -> Iterator[tuple[Lab, dict[str, str]]]:
    with lab() as lb:
        sw = lb.ns("s")
        lb.sh(sw, "ip link add br0 type bridge && ip link set br0 up")
        nss = {role: lb.ns(role) for role in ("c", "d", *BACKENDS)}
        for i, (role, ns) in enumerate(nss.items()):
            lb.veth(ns, "eth0", sw, f"p{i}")
            lb.sh(sw, f"ip link set p{i} master br0")
        lb.sh(nss["c"], "ip addr add 192.0.2.10/24 dev eth0")
        lb.sh(nss["d"], "ip addr add 192.0.2.1/24 dev eth0")
        for role, addr in BACKENDS.items():
            ns = nss[role]
            lb.sh(ns, f"ip addr add {addr}/24 dev eth0 && ip addr add {VIP}/32 dev lo"
                      " && sysctl -qw net.ipv4.conf.all.arp_ignore=1"
                      " && sysctl -qw net.ipv4.conf.all.arp_announce=2"
                      " && sysctl -qw net.ipv4.conf.eth0.arp_ignore=1"
                      " && sysctl -qw net.ipv4.conf.eth0.arp_announce=2")
            lb.peer_backend(ns, VIP, 80, name=role)
        yield lb, nss


def start_pen(lb: Lab, nss: dict[str, str], tmp_path: Path, *extra: str) -> None:
    lb.pen(nss["d"], ["-r", "-o", "dsr_if eth0", *extra, f"{VIP}:80",
                      *(f"{a}:80" for a in BACKENDS.values())], tmp_path)


def test_dsr_backends_answer_the_client_directly(segment, tmp_path: Path) -> None:
    lb, nss = segment
    macs = {role: lb.mac(nss[role], "eth0") for role in ("d", *BACKENDS)}
    client_cap = tmp_path / "client.txt"
    backend_cap = tmp_path / "b1.txt"
    lb.capture(nss["c"], "eth0", f"tcp and src host {VIP}", client_cap)
    lb.capture(nss["b1"], "eth0", f"tcp and dst host {VIP}", backend_cap)
    start_pen(lb, nss, tmp_path, "-d")
    out = lb.client(nss["c"], ask(20))
    seen = out.split()
    assert len(seen) == 20
    assert {s.split("@")[0] for s in seen} == {"192.0.2.10"}       # the real client address
    assert {s.split("@")[1] for s in seen} == set(BACKENDS)         # both backends used (-r)
    # every reply from the VIP reached the client from a backend's MAC, none via the director
    wait_for(lambda: "Flags [F" in client_cap.read_text(), 5, what="captured replies")
    reply_macs = set(re.findall(r"^\S+ ([0-9a-f:]{17}) > ", client_cap.read_text(), re.M))
    assert reply_macs == {macs["b1"], macs["b2"]}, client_cap.read_text()[:2000]
    # the client's frames reached the backend from the director's MAC (layer-2 forwarding)
    wait_for(lambda: backend_cap.read_text().count("192.0.2.10.") > 0, 5, what="b1 capture")
    in_macs = set(re.findall(r"^\S+ ([0-9a-f:]{17}) > ", backend_cap.read_text(), re.M))
    assert in_macs == {macs["d"]}, backend_cap.read_text()[:2000]


TARPIT_PROBE = f"""
import socket, time
s = socket.socket()
s.settimeout(3)
s.connect(("{TARPIT}", PORT))          # completes: pen forged the SYN+ACK
s.sendall(b"hello?")
t0 = time.monotonic()
try:
    data = s.recv(100)
    print("data", data)
except socket.timeout:
    print("held", round(time.monotonic() - t0))
"""


def test_tarpit_holds_connections_to_tarpitted_addresses(segment, tmp_path: Path) -> None:
    lb, nss = segment
    cap = tmp_path / "client.txt"
    lb.capture(nss["c"], "eth0", f"tcp and src host {TARPIT}", cap)
    start_pen(lb, nss, tmp_path, "-o", f"acl 1 permit {TARPIT}", "-o", "tarpit_acl 1")
    for port in (22, 8443):                                # every port looks open
        assert lb.client(nss["c"], TARPIT_PROBE.replace("PORT", str(port))) == "held 3"
    wait_for(lambda: cap.read_text().count("Flags [S.], seq 42,") >= 2, 5, what="SYN+ACKs")
    # the VIP itself is still served normally
    assert "@" in lb.client(nss["c"], ask(1))


@pytest.mark.parametrize("iface,message", [("nonexist0", "dsr_if nonexist0: No such device"),
                                           ("lo", "dsr_if lo: not an Ethernet interface")])
def test_dsr_start_errors_are_clear(tmp_path: Path, iface: str, message: str) -> None:
    with lab() as lb:
        ns = lb.ns("d")
        res = lb.sh(ns, f"{PEN} -f -o 'dsr_if {iface}' {VIP}:80 192.0.2.21:80", check=False)
        assert res.returncode == 1 and message in res.stderr


def test_dsr_all_ports_form(segment, tmp_path: Path) -> None:
    """C pen's `VIP` listen form (no port: every port) with servers given without a port."""
    lb, nss = segment
    lb.pen(nss["d"], ["-r", "-o", "dsr_if eth0", VIP, *BACKENDS.values()], tmp_path)
    ports = ports_for_each_backend(3)
    out = lb.client(nss["c"], ask(6, ports))
    seen = out.split()
    assert len(seen) == 6 and [s.split("@")[1] for s in seen] == ["b1", "b2"] * 3, (ports, seen)
