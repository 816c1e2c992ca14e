"""Hostile and malformed adverts are dropped, counted and change nothing (RFC 5798 §7.1,
docs/penvrrp.md "Counters").  Frames are forged with scapy, independently of our encoder, and
sent from the switch namespace (192.0.2.254, a higher address than the master's, so the
positive control with equal priority 255 wins the tie-break and moves the VIP)."""

from __future__ import annotations

import struct
import time

import pytest
from scapy.layers.inet import IP
from scapy.layers.l2 import Ether
from scapy.layers.vrrp import VRRP, VRRPv3

from vrrplab import CLIENT, VIP, Lab, Proc, wait_for

pytestmark = [pytest.mark.root, pytest.mark.netns]

MCAST_MAC = "01:00:5e:00:00:12"
START = 15.0  # penvrrp start-up (scapy + pyroute2 imports, ~1 s idle, several s on a loaded box) plus an election


def frame(lab: Lab, vrrp: bytes, ttl: int = 255, cut: int = 0) -> bytes:
    ip = IP(bytes(IP(src=CLIENT, dst="224.0.0.18", ttl=ttl, proto=112) / vrrp[:len(vrrp) - cut]))
    return bytes(Ether(dst=MCAST_MAC, src=_br_mac(lab)) / ip)


def _br_mac(lab: Lab) -> str:
    (link,) = lab.ipr(lab.sw).get_links(ifname="br0")
    return str(link.get("IFLA_ADDRESS"))


def v3(prio: int = 255, **kw: object) -> bytes:
    fields: dict[str, object] = {"vrid": 51, "priority": prio, "adv": 20, "addrlist": [VIP]}
    fields.update(kw)
    # built under IP so scapy computes the keepalived-style (pseudo-header) checksum
    pkt = IP(bytes(IP(src=CLIENT, dst="224.0.0.18", proto=112) / VRRPv3(**fields)))
    return bytes(pkt.payload)


def v2(prio: int = 255, password: str | None = "s3cr3t", **kw: object) -> bytes:
    auth = (password or "").encode()[:8].ljust(8, b"\0")
    a1, a2 = struct.unpack("!II", auth)
    fields: dict[str, object] = {"vrid": 51, "priority": prio, "adv": 1, "addrlist": [VIP],
                                 "authtype": 1 if password is not None else 0, "auth1": a1, "auth2": a2}
    fields.update(kw)
    return bytes(VRRP(**fields))


def corrupt_checksum(raw: bytes) -> bytes:
    return raw[:6] + bytes([raw[6] ^ 0x5A, raw[7]]) + raw[8:]


def _send3(lab: Lab, data: bytes) -> None:
    s = lab.raw_sender()
    try:
        for _ in range(3):
            s.send(data)
            time.sleep(0.01)
    finally:
        s.close()


def _check_dropped(lab: Lab, a: Proc, name: str, data: bytes, counter: str) -> None:
    before = a.counters()
    rcvd = before["adverts_rcvd"]
    _send3(lab, data)
    wait_for(lambda: a.counters().get(counter, 0) - before.get(counter, 0) >= 3, 3,
             what=f"{name}: counter {counter} +3 (counters {a.counters()})")
    time.sleep(0.05)
    after = a.counters()
    assert after[counter] - before.get(counter, 0) == 3, f"{name}: {counter} rose by exactly 3"
    assert after["adverts_rcvd"] == rcvd, f"{name}: nothing accepted"
    assert a.state()["state"] == "MASTER" and lab.holders() == [1], f"{name}: VIP must not move"


DEFECTS_V3 = [
    ("ttl 254", lambda lab: frame(lab, v3(), ttl=254), "ip_ttl_errors"),
    ("ttl 1", lambda lab: frame(lab, v3(), ttl=1), "ip_ttl_errors"),
    ("bad checksum", lambda lab: frame(lab, corrupt_checksum(v3())), "checksum_errors"),
    ("wrong vrid", lambda lab: frame(lab, v3(vrid=52)), "vrid_errors"),
    ("version 2", lambda lab: frame(lab, v2(password=None)), "version_errors"),
    ("truncated by 2", lambda lab: frame(lab, v3(), cut=2), "packet_length_errors"),
    ("count 2, one address", lambda lab: frame(lab, v3(ipcount=2)), "packet_length_errors"),
    ("type 2", lambda lab: frame(lab, v3(type=2)), "invalid_type"),
    ("other VIP list", lambda lab: frame(lab, v3(addrlist=["192.0.2.99"])), "address_list_errors"),
]


def test_hostile_v3_adverts_are_dropped_counted_and_harmless(lab: Lab) -> None:
    a = lab.penvrrp(1, "-p", "255", name="A")
    a.wait_state("MASTER", START)
    lab.wait_holder(1, 1)
    for name, build, counter in DEFECTS_V3:
        _check_dropped(lab, a, name, build(lab), counter)
    assert a.alive()
    # rate-limited logging: 3 bad checksums in a burst give one log line
    assert a.output().count("[checksum_errors]") == 1
    # positive control: the same advert without a defect does move the VIP (sent as a master
    # would, every 0.2 s: A keeps the VIP release_delay (1 s) after it, beyond Master_Down)
    _send3(lab, frame(lab, v3()))
    a.wait_state("BACKUP", 5)

    def removed() -> bool:
        _send3(lab, frame(lab, v3()))
        return lab.holders() == []
    wait_for(removed, 3, interval=0.2, what="VIP removed after the valid advert")


def test_hostile_v2_auth_and_interval(lab: Lab) -> None:
    a = lab.penvrrp(1, "-p", "255", "--vrrp-version", "2", "--auth-pass", "s3cr3t", advert_int="1", name="A")
    a.wait_state("MASTER", START)
    lab.wait_holder(1, 1)
    _check_dropped(lab, a, "wrong password", frame(lab, v2(password="guess")), "auth_failures")
    _check_dropped(lab, a, "no auth", frame(lab, v2(password=None)), "auth_type_mismatch")
    _check_dropped(lab, a, "auth type 5", frame(lab, v2(authtype=5)), "invalid_auth_type")
    _check_dropped(lab, a, "interval 2 s", frame(lab, v2(adv=2)), "advert_interval_errors")
    _check_dropped(lab, a, "v2 ttl 254", frame(lab, v2(), ttl=254), "ip_ttl_errors")
    _check_dropped(lab, a, "v3 to v2", frame(lab, v3()), "version_errors")
    _send3(lab, frame(lab, v2()))
    a.wait_state("BACKUP", 5)
