"""Transparent mode and `source` in namespaces (docs/dataplane.md "Transparent mode", issue 11).

    client ns  192.0.2.10 --- 192.0.2.1  pen ns  198.51.100.1 --- 198.51.100.2  backend ns
                                              (+ 198.51.100.3)

The backend's default route is via the pen node.  The pen node delivers the backend's replies
to the client's address locally with one policy rule (the routing docs/dataplane.md gives):
    ip rule add iif eth1 ipproto tcp sport 8080 lookup 100
    ip route add local 0.0.0.0/0 dev lo table 100
The backend answers each connection with the peer address it sees.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.procs import PEN, wait_for
from support.dataplane import Lab, lab

pytestmark = [pytest.mark.netns, pytest.mark.root]

ASK = """
import socket
s = socket.create_connection(("192.0.2.1", 8000), timeout=5)
data = b""
while not data.endswith(b"\\n"):
    chunk = s.recv(100)
    if not chunk:
        break
    data += chunk
s.sendall(b"ping\\n")
echo = s.recv(100)
print(data.decode().split()[1], echo.decode().strip())
"""


@pytest.fixture
def net() -> Iterator[tuple[Lab, str, str, str]]:
    with lab() as lb:
        c, p, b = lb.ns("c"), lb.ns("p"), lb.ns("b")
        lb.veth(c, "eth0", p, "eth0")
        lb.veth(p, "eth1", b, "eth0")
        lb.sh(c, "ip addr add 192.0.2.10/24 dev eth0 && ip route add default via 192.0.2.1")
        lb.sh(p, "ip addr add 192.0.2.1/24 dev eth0 && ip addr add 198.51.100.1/24 dev eth1"
                 " && ip addr add 198.51.100.3/24 dev eth1")
        lb.sh(b, "ip addr add 198.51.100.2/24 dev eth0 && ip route add default via 198.51.100.1")
        lb.peer_backend(b, "198.51.100.2", 8080)
        yield lb, c, p, b


def policy_routing(lb: Lab, ns: str) -> None:
    lb.sh(ns, "ip rule add iif eth1 ipproto tcp sport 8080 lookup 100"
              " && ip route add local 0.0.0.0/0 dev lo table 100")


def test_transparent_backend_sees_the_client(net, tmp_path: Path) -> None:
    lb, c, p, b = net
    policy_routing(lb, p)
    ctl = str(tmp_path / "ctl")
    lb.pen(p, ["-o", "transparent", "-C", ctl, "192.0.2.1:8000", "198.51.100.2:8080"], tmp_path)
    assert lb.client(c, ASK) == "192.0.2.10 ping"        # the real client, both ways
    # `no transparent` at run time: the backend sees pen's address again
    lb.penctl(p, ctl, "no", "transparent")
    assert lb.client(c, ASK) == "198.51.100.1 ping"
    lb.penctl(p, ctl, "transparent")
    assert lb.client(c, ASK) == "192.0.2.10 ping"


def test_source_takes_precedence_over_transparent(net, tmp_path: Path) -> None:
    lb, c, p, b = net
    policy_routing(lb, p)
    lb.pen(p, ["-o", "transparent", "-o", "source 198.51.100.3", "192.0.2.1:8000",
               "198.51.100.2:8080"], tmp_path)
    assert lb.client(c, ASK) == "198.51.100.3 ping"


def test_transparent_without_privilege_falls_back(net, tmp_path: Path) -> None:
    """Without CAP_NET_ADMIN the IP_TRANSPARENT bind fails: pen logs it (debug) and connects
    from its own address, as C pen does, instead of failing the client."""
    lb, c, p, b = net
    log = tmp_path / "pen.log"
    proc = lb.spawn(p, ["capsh", "--drop=cap_net_admin,cap_net_raw", "--", "-c",
                        f"exec {PEN} -f -d -d -o transparent 192.0.2.1:8000 "
                        "198.51.100.2:8080"], log=log)
    wait_for(lambda: "started" in log.read_text() or proc.poll() is not None, 10, what="pen")
    assert proc.poll() is None, log.read_text()
    assert lb.client(c, ASK) == "198.51.100.1 ping"
    assert "transparent: cannot bind" in log.read_text()



ASK_UDP = """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.sendto(b"who am i", ("192.0.2.1", 5353))
print(s.recv(100).decode().split()[1])
"""


def test_transparent_udp(net, tmp_path: Path) -> None:
    lb, c, p, b = net
    lb.peer_backend(b, "198.51.100.2", 5353, mode="udppeer")
    lb.sh(p, "ip rule add iif eth1 ipproto udp sport 5353 lookup 100"
             " && ip route add local 0.0.0.0/0 dev lo table 100")
    lb.pen(p, ["-U", "-o", "transparent", "192.0.2.1:5353", "198.51.100.2:5353"], tmp_path)
    assert lb.client(c, ASK_UDP) == "192.0.2.10"
