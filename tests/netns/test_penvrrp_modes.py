"""penvrrp unicast, IPv6, several instances from TOML, SIGHUP reload and `penvrrp status`."""

from __future__ import annotations

import shutil
import signal
import subprocess
import threading
import time

import pytest
from scapy.layers.inet import IP
from scapy.layers.l2 import Ether
from scapy.layers.vrrp import VRRPv3

from penvrrp.core.timing import master_down_interval
from vrrplab import CLIENT, PENVRRP, VIP, VIP6, Lab, wait_for

pytestmark = [pytest.mark.root, pytest.mark.netns]

SLACK = 0.35
START = 15.0  # penvrrp start-up (scapy + pyroute2 imports, ~1 s idle, several s on a loaded box) plus an election


def _mac(lab: Lab, ns: str, ifname: str) -> str:
    (link,) = lab.ipr(ns).get_links(ifname=ifname)
    return str(link.get("IFLA_ADDRESS"))


def test_unicast_pair_fails_over_and_rejects_non_peers(lab: Lab) -> None:
    a = lab.penvrrp(1, "-p", "150", "--unicast-src", lab.addr(1), "--unicast-peer", lab.addr(2), name="A")
    b = lab.penvrrp(2, "-p", "100", "--unicast-src", lab.addr(2), "--unicast-peer", lab.addr(1), name="B")
    lab.wait_holder(1, START)
    b.wait_state("BACKUP", 5)
    # a spoofed advert from a non-peer (check_unicast_src on by default, stricter than keepalived)
    vrrp = bytes(IP(bytes(IP(src=CLIENT, dst=lab.addr(1), proto=112)
                          / VRRPv3(vrid=51, priority=255, adv=20, addrlist=[VIP]))).payload)
    spoof = bytes(Ether(dst=_mac(lab, lab.ns(1), "eth0"), src=_mac(lab, lab.sw, "br0"))
                  / IP(src=CLIENT, dst=lab.addr(1), ttl=255, proto=112) / vrrp)
    s = lab.raw_sender()
    for _ in range(3):
        s.send(spoof)
    s.close()
    wait_for(lambda: a.counters().get("unicast_src_rejected") == 3, 2, what="unicast_src_rejected 3")
    assert a.state()["state"] == "MASTER"
    t0 = time.monotonic()
    a.kill()
    took = lab.wait_holder(2, 3, sole=False) - t0
    print(f"\nunicast hard failover: {took:.3f} s")
    assert took <= master_down_interval(3, 100, 20) + SLACK


def test_ipv6_failover(lab: Lab) -> None:
    a = lab.penvrrp(1, "-p", "150", vip=VIP6, name="A")
    b = lab.penvrrp(2, "-p", "100", vip=VIP6, name="B")
    lab.wait_holder(1, START, vip=VIP6)
    st = wait_for(lambda: (s := b.state()) and s["state"] == "BACKUP" and s["master"] and s, 5,
                  what="B BACKUP with a known master")
    assert st["source"].startswith("fe80:") and st["master"].startswith("fe80:")
    t0 = time.monotonic()
    a.signal(signal.SIGTERM)
    took = lab.wait_holder(2, 3, vip=VIP6, sole=False) - t0
    lab.wait_holder(2, 2, vip=VIP6)                     # A releases after release_delay
    print(f"\nIPv6 graceful hand-over: {took:.3f} s")
    assert took <= 0.122 + SLACK
    assert b.counters()["adverts_rcvd"] > 0 and not b.counters().get("checksum_errors")
    if shutil.which("nft"):      # the IPv6 hand-over tables load (docs/penvrrp.md "Hand-over")
        assert "forwarding the connections open through fe80:" in b.output(), b.output()
        assert a.popen.wait(5) == 0 and "nft failed" not in a.output() + b.output()


TOML = """
[[instance]]
name = "VI_51"
interface = "eth0"
vrid = 51
priority = 150
advert_int = 0.2
vips = ["192.0.2.100/24"]

[[instance]]
name = "VI_52"
interface = "eth0"
vrid = 52
priority = {prio}
advert_int = 0.2
vips = ["192.0.2.101/24"]
"""


def test_two_instances_sighup_keeps_unchanged_vip_and_status(lab: Lab) -> None:
    conf = lab.tmp / "penvrrp.toml"
    conf.write_text(TOML.format(prio=100))
    a = lab.penvrrp(1, "-c", str(conf), vip=None, name="A")
    wait_for(lambda: {n: s["state"] for n, s in a.states().items()} == {"VI_51": "MASTER", "VI_52": "MASTER"},
             START, what=f"both instances MASTER\n{lab.logs()}")
    assert lab.holders(VIP) == [1] and lab.holders("192.0.2.101") == [1]

    lost: list[float] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            if VIP not in lab.addresses(1):
                lost.append(time.monotonic())
            time.sleep(0.005)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        conf.write_text(TOML.format(prio=200))
        a.signal(signal.SIGHUP)
        wait_for(lambda: a.states().get("VI_52", {}).get("priority") == 200, 3, what="VI_52 restarted")
        wait_for(lambda: a.states()["VI_52"]["state"] == "MASTER", 3, what="VI_52 master again")
        conf.write_text("[[instance]]\nthis is not toml")
        a.signal(signal.SIGHUP)
        wait_for(lambda: "reload refused" in a.output(), 3, what="bad reload refused")
        time.sleep(0.3)
    finally:
        stop.set()
        watcher.join(2)
    assert lost == [], "the unchanged instance's VIP must stay configured across SIGHUP"
    assert "instance VI_51 unchanged" in a.output()
    assert a.states()["VI_51"]["counters"]["become_master"] == 1
    assert a.alive()

    out = subprocess.run([str(PENVRRP), "status", "--state-file", str(a.state_file)],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    assert "VI_51: MASTER on eth0 vrid 51 v3 priority 150" in out.stdout
    assert "VI_52: MASTER on eth0 vrid 52 v3 priority 200" in out.stdout
