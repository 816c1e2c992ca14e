"""penvrrp <-> keepalived 2.2.7 (Debian's /usr/sbin/keepalived) in both directions,
VRRPv2 and v3, multicast and unicast (docs/penvrrp.md "Interoperating with keepalived").

Each case: the higher-priority side wins the election and the other stays BACKUP
without complaints; SIGTERM of the master hands over in about Skew_Time (priority 0);
the restarted master preempts back; SIGKILL of the master fails over within
Master_Down_Interval.  v3 runs at 0.2 s adverts, v2 at 1 s (whole seconds only).
"""

from __future__ import annotations

import os
import re
import signal
import time

import pytest

from penvrrp.core.timing import master_down_interval, skew_time
from vrrplab import VIP, Lab, Proc, wait_for

pytestmark = [pytest.mark.root, pytest.mark.netns, pytest.mark.compat]

SLACK = 0.4
START = 15.0  # penvrrp start-up (scapy + pyroute2 imports, ~1 s idle, several s on a loaded box) plus an election
PASS = "s3cr3t"
KA_COMPLAINTS = re.compile(r"invalid|wrong version|mismatch|not present|auth, expecting|too short", re.I)
PEN_DISCARDS = ("ip_ttl_errors", "version_errors", "packet_length_errors", "checksum_errors",
                "auth_type_mismatch", "auth_failures", "advert_interval_errors", "invalid_type",
                "address_list_errors", "unicast_src_rejected", "unicast_dst_errors")


def ka_conf(lab: Lab, node: int, prio: int, version: int, interval: str, unicast: bool) -> str:
    peer = 3 - node
    uni = (f"    unicast_src_ip {lab.addr(node)}\n    unicast_peer {{\n        {lab.addr(peer)}\n    }}\n"
           if unicast else "")
    auth = (f"    authentication {{\n        auth_type PASS\n        auth_pass {PASS}\n    }}\n"
            if version == 2 and unicast else "")
    return (f"global_defs {{\n    router_id {lab.ns(node)}\n    script_user root\n    enable_script_security\n"
            f"    vrrp_garp_master_delay 1\n}}\n"
            f"vrrp_instance VI_51 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n"
            f"    priority {prio}\n    advert_int {interval}\n    version {version}\n{uni}{auth}"
            f"    virtual_ipaddress {{\n        {VIP}/24\n    }}\n}}\n")


class Side:
    """One node run by either implementation, restartable."""

    def __init__(self, lab: Lab, impl: str, node: int, prio: int, version: int, unicast: bool) -> None:
        self.lab, self.impl, self.node, self.prio = lab, impl, node, prio
        self.version, self.unicast = version, unicast
        self.interval = "0.2" if version == 3 else "1"
        self.proc: Proc | None = None
        self.runs: list[Proc] = []

    def start(self) -> Proc:
        if self.impl == "keepalived":
            conf = ka_conf(self.lab, self.node, self.prio, self.version, self.interval, self.unicast)
            self.proc = self.lab.keepalived(self.node, conf)
        else:
            args = ["-p", str(self.prio), "--vrrp-version", str(self.version)]
            if self.unicast:
                args += ["--unicast-src", self.lab.addr(self.node), "--unicast-peer", self.lab.addr(3 - self.node)]
                if self.version == 2:
                    args += ["--auth-pass", PASS]
            self.proc = self.lab.penvrrp(self.node, *args, advert_int=self.interval)
        self.runs.append(self.proc)
        return self.proc

    def kill(self) -> None:
        """SIGKILL, keepalived's VRRP child included (keepalived(8): a parent and its VRRP child)."""
        assert self.proc is not None
        if self.impl == "keepalived":
            vrrp_pid = self.lab.tmp / f"{self.proc.name}.vrrp.pid"
            if vrrp_pid.exists():
                try:
                    os.kill(int(vrrp_pid.read_text().split()[0]), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
        self.proc.kill()

    def complaints(self) -> list[str]:
        if self.impl == "keepalived":
            return [ln for p in self.runs for ln in p.output().splitlines() if KA_COMPLAINTS.search(ln)]
        assert self.proc is not None
        c = self.proc.counters()
        return [f"{k}={c[k]}" for k in PEN_DISCARDS if c.get(k)]

    def is_backup(self) -> bool:
        assert self.proc is not None
        if self.impl == "keepalived":
            return "Entering BACKUP STATE" in self.proc.output()
        st = self.proc.state()
        return bool(st and st["state"] == "BACKUP" and st["counters"]["adverts_rcvd"] > 0)


CASES = [(3, False), (3, True), (2, False), (2, True)]


@pytest.mark.parametrize("master_impl", ["keepalived", "penvrrp"])
@pytest.mark.parametrize("version,unicast", CASES, ids=["v3-multicast", "v3-unicast", "v2-multicast", "v2-unicast-auth"])
def test_interop(lab: Lab, master_impl: str, version: int, unicast: bool) -> None:
    other = "penvrrp" if master_impl == "keepalived" else "keepalived"
    high = Side(lab, master_impl, 1, 150, version, unicast)
    low = Side(lab, other, 2, 100, version, unicast)
    cs = 20 if version == 3 else 100
    label = f"v{version} {'unicast' if unicast else 'multicast'}, {master_impl} master, {other} backup"
    low.start()
    high.start()
    lab.wait_holder(1, START + master_down_interval(version, 100, cs))
    wait_for(low.is_backup, START, what=f"{other} BACKUP with adverts received\n{lab.logs()}")
    time.sleep(3 * cs / 100)  # a few adverts more, for complaints to show up
    assert lab.holders() == [1]
    assert low.complaints() == [], f"{other} complained: {low.complaints()}"

    # graceful: priority 0, take-over in Skew_Time of the backup
    assert high.proc is not None
    t0 = time.monotonic()
    high.proc.signal(signal.SIGTERM)
    took = lab.wait_holder(2, 3 + master_down_interval(version, 100, cs), sole=False) - t0
    skew = skew_time(version, 100, cs)
    lab.wait_holder(2, 3)           # the old master lets go (penvrrp: release_delay after the advert)
    assert high.proc.popen.wait(5) is not None
    # restarted master preempts back; the backup releases the VIP
    high.start()
    t1 = time.monotonic()
    lab.wait_holder(1, START + master_down_interval(version, 150, cs))
    preempt = time.monotonic() - t1
    # hard kill: take-over within Master_Down of the backup
    t2 = time.monotonic()
    high.kill()
    killed_took = lab.wait_holder(2, 3 + master_down_interval(version, 100, cs), sole=False) - t2
    down = master_down_interval(version, 100, cs)
    print(f"\n{label}: graceful hand-over {took:.3f} s (Skew {skew:.3f}), preempted back after "
          f"{preempt:.3f} s incl. start-up, hard failover {killed_took:.3f} s (Master_Down {down:.3f})")
    assert took <= skew + SLACK, f"{label}: graceful hand-over {took:.3f} s"
    assert killed_took <= down + SLACK, f"{label}: hard failover {killed_took:.3f} s"
    assert low.complaints() == [], f"{other} complained: {low.complaints()}"


def test_keepalived_learns_penvrrp_interval(lab: Lab) -> None:
    """A v3 keepalived backup configured for 1 s adopts penvrrp's 0.2 s (RFC 5798 §6.4.2):
    after SIGKILL of penvrrp it takes over in about 0.72 s, not 3.6 s."""
    ka = lab.keepalived(2, ka_conf(lab, 2, 100, 3, "1", False))
    a = lab.penvrrp(1, "-p", "150", advert_int="0.2")
    lab.wait_holder(1, START + 4)
    wait_for(lambda: "Entering BACKUP STATE" in ka.output(), 3, what="keepalived BACKUP")
    time.sleep(0.5)
    t0 = time.monotonic()
    a.kill()
    took = lab.wait_holder(2, 5, sole=False) - t0
    learned = master_down_interval(3, 100, 20)
    print(f"\nkeepalived (advert_int 1) took over {took:.3f} s after penvrrp (0.2 s) died "
          f"(learned Master_Down {learned:.3f} s, unlearned {master_down_interval(3, 100, 100):.3f} s)")
    assert took <= learned + SLACK


def test_plain_checksum_is_rejected_by_keepalived_227(lab: Lab) -> None:
    """The RFC 9568 checksum form is the interop hazard of docs/penvrrp.md "Interoperating with keepalived": keepalived 2.2.7
    drops it, so both sides end up master; penvrrp still accepts keepalived's form."""
    ka = lab.keepalived(2, ka_conf(lab, 2, 100, 3, "0.2", False))
    a = lab.penvrrp(1, "-p", "150", "--checksum-mode", "plain")
    wait_for(lambda: "Invalid VRRPv3 checksum" in ka.output(), START, what="keepalived to reject the plain form")
    wait_for(lambda: lab.holders() == [1, 2], START, what="split brain: both hold the VIP")
    # penvrrp accepted keepalived's pseudo-header adverts (and, as the master, asserted itself)
    wait_for(lambda: a.counters().get("rx_pseudo_checksum", 0) > 0, 3, what="penvrrp counting keepalived's form")
    assert a.counters()["checksum_errors"] == 0
