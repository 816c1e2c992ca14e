"""penvrrp's pen tracker asks `serving` (issue 15): a node whose pen can serve nobody gives
the VIP away and takes it from nobody; probes never touch pen's balancing path; a link
that comes back makes pen re-try its servers; /metrics and /status.json answer."""

from __future__ import annotations

import json
import socket
import time

from pyroute2 import netns

from vrrplab import Lab, wait_for
from webstats import vrrp as webstats_vrrp

START = 15.0
TRACK = ["--track-interval", "0.2"]


def control(lab: Lab, node: int, port: int, command: str) -> str:
    s = netns.create_socket(lab.ns(node), socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.settimeout(2)
        s.connect(("127.0.0.1", port))
        s.sendall(command.encode() + b"\n")
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out.decode()
    finally:
        s.close()


def http_get(lab: Lab, node: int, port: int, path: str) -> tuple[str, str]:
    s = netns.create_socket(lab.ns(node), socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.settimeout(2)
        s.connect(("127.0.0.1", port))
        s.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    finally:
        s.close()
    head, _, body = out.decode().partition("\r\n\r\n")
    return head, body


def _pen(lab: Lab, node: int) -> tuple[int, int]:
    backend, listen, ctl = (lab.free_port(lab.ns(node)) for _ in range(3))
    lab.backend(node, backend)
    lab.pen(node, listen, ctl, backend)
    def serving() -> bool:
        try:
            return control(lab, node, ctl, "serving") == "1\n"
        except OSError:
            return False

    wait_for(serving, 10, what=f"pen{node} serving")
    return listen, ctl


def test_pen_that_can_serve_nobody_gives_the_vip_away_and_probes_touch_nothing(lab: Lab) -> None:
    listen, ctl = _pen(lab, 1)
    a = lab.penvrrp(1, "-p", "150", "--track-pen", f"127.0.0.1:{ctl}", "--track-pen-listen",
                    f"127.0.0.1:{listen}", "--track-weight", "-60", *TRACK, name="A")
    lab.penvrrp(2, "-p", "100", name="B")
    lab.wait_holder(1, START)
    wait_for(lambda: "can use 1 server" in a.state()["tracking"][1]["detail"], 3, what="serving probe")
    before = control(lab, 1, ctl, "server_state")
    time.sleep(1.0)                                     # five probes
    assert control(lab, 1, ctl, "server_state") == before, "a probe went through pen's balancing path"
    control(lab, 1, ctl, "server 0 drain")
    lab.wait_holder(2, 3)
    st = a.wait_state("BACKUP", 2)
    assert st["priority"] == 90 and st["tracking"][1]["detail"] == "pen can use no server"
    control(lab, 1, ctl, "server 0 undrain")
    lab.wait_holder(1, 3)


def test_backup_that_cannot_serve_does_not_preempt(lab: Lab) -> None:
    listen, ctl = _pen(lab, 1)
    lab.penvrrp(2, "-p", "100", name="B")
    lab.wait_holder(2, START)
    control(lab, 1, ctl, "server 0 drain")
    # weight -10: 140 is still above B's 100, but a pen that can serve nobody preempts nobody
    a = lab.penvrrp(1, "-p", "150", "--track-pen", f"127.0.0.1:{ctl}", "--track-weight", "-10", *TRACK,
                    name="A")
    a.wait_state("BACKUP", START)
    time.sleep(1.5)                                     # two Master_Down intervals
    assert lab.holders() == [2] and a.state()["priority"] == 140
    control(lab, 1, ctl, "server 0 undrain")
    lab.wait_holder(1, 3)


def test_link_up_makes_pen_retry_its_servers(lab: Lab) -> None:
    listen, ctl = _pen(lab, 1)
    a = lab.penvrrp(1, "-p", "150", "--track-pen", f"127.0.0.1:{ctl}", "--track-weight", "-60", *TRACK,
                    name="A")
    lab.penvrrp(2, "-p", "100", name="B")
    lab.wait_holder(1, START)
    lab.link_down(1)
    lab.wait_holder(2, 3)
    control(lab, 1, ctl, "server 0 blacklist 600")      # what failed connects do while the link is down
    wait_for(lambda: a.state()["priority"] == 90, 3, what="A sees its pen serving nobody")
    back = time.monotonic()
    lab.link_up(1)
    lab.wait_holder(1, 3)
    print(f"\nlink back with a blacklisted server: VIP back after {time.monotonic() - back:.3f} s")
    assert control(lab, 1, ctl, "serving") == "1\n"
    assert "asked pen at" in a.output() and "re-try its servers: 1" in a.output()


def test_metrics_and_status_json(lab: Lab) -> None:
    port = lab.free_port(lab.ns(1))
    a = lab.penvrrp(1, "-p", "150", "--metrics-listen", f"127.0.0.1:{port}", "--node-name", "lb-a", name="A")
    lab.penvrrp(2, "-p", "100", name="B")
    lab.wait_holder(1, START)
    a.wait_state("MASTER", 2)
    head, body = http_get(lab, 1, port, "/metrics")
    assert head.startswith("HTTP/1.0 200") and "text/plain; version=0.0.4" in head
    lines = set(body.splitlines())
    assert 'penvrrp_instance_state{instance="VI_51",state="master"} 1' in lines
    assert 'penvrrp_priority{instance="VI_51"} 150' in lines
    assert 'penvrrp_node_info{node="lb-a"} 1' in lines      # --node-name, not the shared hostname
    assert 'penvrrp_tracker_up{instance="VI_51",tracker="interface:eth0"} 1' in lines
    sent = [ln for ln in lines if ln.startswith("penvrrp_adverts_sent_total")]
    assert sent and float(sent[0].split()[-1]) >= 1
    head, body = http_get(lab, 1, port, "/status.json")
    doc = json.loads(body)
    assert doc["node"] == "lb-a"
    (inst,) = doc["instances"]
    assert inst["state"] == "MASTER" and inst["vrid"] == 51 and inst["vips"] == ["192.0.2.100/24"]
    assert inst["effective_priority"] == 150 and inst["seconds_in_state"] >= 0
    # webstats reads this very document (its VRRP badges and the cluster page): the contract
    # between the two programs, checked against the real endpoint
    seen = webstats_vrrp.parse(doc)
    assert [(i.name, i.state, i.effective_priority) for i in seen.instances] == \
        [("VI_51", "MASTER", 150)]
    assert http_get(lab, 1, port, "/nothing")[0].startswith("HTTP/1.0 404")
