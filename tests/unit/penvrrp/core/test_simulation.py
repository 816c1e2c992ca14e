"""Two (and three) simulated routers exchanging real encoded adverts on a fake LAN.

Each router is the pure core only: Fsm + packet.encode + rxcheck.check.  The LAN
delivers every advert 1 ms later to every other router, so elections, failover and
hand-over times can be checked exactly against RFC 5798 §6.1 arithmetic.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import pytest

from penvrrp.core import config, packet, rxcheck
from penvrrp.core.fsm import AddVips, DelVips, Fsm, SendAdvert, State
from penvrrp.core.timing import master_down_interval, skew_time

LATENCY = 0.001


@dataclass
class Router:
    name: str
    addr: str
    fsm: Fsm
    alive: bool = True
    holds_vip: bool = False
    vip_since: float | None = None


@dataclass
class Lan:
    routers: list[Router] = field(default_factory=list)
    wire: list[tuple[float, int, str, bytes]] = field(default_factory=list)
    now: float = 0.0
    seq: int = 0
    log: list[tuple[float, str, str]] = field(default_factory=list)

    def add(self, name: str, addr: str, prio: int, start: float = 0.0, **kw: object) -> Router:
        d: dict[str, object] = {"interface": "eth0", "vrid": 51, "vips": ["192.0.2.100/24"],
                                "advert_int": 0.2, "priority": prio}
        d.update(kw)
        r = Router(name, addr, Fsm(config.instance_from_dict(d), addr))
        self.routers.append(r)
        self._apply(r, r.fsm.start(self.now))
        return r

    def _apply(self, r: Router, acts: list[object]) -> None:
        for a in acts:
            if isinstance(a, SendAdvert) and r.alive:
                cfg = r.fsm.cfg
                adv = packet.Advert(cfg.version, cfg.vrid, a.priority, tuple(v.address for v in cfg.vips),
                                    cfg.interval_cs)
                self.seq += 1
                heapq.heappush(self.wire, (self.now + LATENCY, self.seq, r.addr,
                                           packet.encode(adv, r.addr, packet.MCAST_V4)))
            elif isinstance(a, AddVips):
                r.holds_vip, r.vip_since = True, self.now
                self.log.append((self.now, r.name, "add"))
            elif isinstance(a, DelVips) and r.holds_vip:
                r.holds_vip = False
                self.log.append((self.now, r.name, "del"))

    def run_until(self, end: float) -> None:
        while True:
            deadlines = [(r.fsm.next_deadline(), i) for i, r in enumerate(self.routers) if r.alive]
            deadlines = [(t, i) for t, i in deadlines if t is not None]
            t_timer = min(deadlines)[0] if deadlines else float("inf")
            t_wire = self.wire[0][0] if self.wire else float("inf")
            t = min(t_timer, t_wire)
            if t > end:
                self.now = end
                return
            self.now = t
            if t_wire <= t_timer:
                _, _, src, raw = heapq.heappop(self.wire)
                for r in self.routers:
                    if r.alive and r.addr != src:
                        dec = rxcheck.check(r.fsm.cfg, src, packet.MCAST_V4, 255, raw, r.addr)
                        self._apply(r, r.fsm.on_advert(dec.advert, src, t))
            else:
                for r in self.routers:
                    if r.alive and r.fsm.next_deadline() is not None and r.fsm.next_deadline() <= t:
                        self._apply(r, r.fsm.tick(t))
            holders = [r.name for r in self.routers if r.holds_vip]
            assert len(holders) <= 1 or self._in_takeover_window(), (self.now, holders)

    def _in_takeover_window(self) -> bool:
        """Two holders are allowed only between a new master's first advert and its arrival,
        and while the old master lingers (release_delay) after hearing it."""
        return any(abs(self.now - r.vip_since) <= 2 * LATENCY or r.fsm.releasing
                   for r in self.routers if r.holds_vip and r.vip_since is not None)

    def kill(self, r: Router) -> None:
        """SIGKILL: no goodbye, the VIP stays where it was (but it does not matter here)."""
        r.alive = False
        r.holds_vip = False

    def stop(self, r: Router) -> None:
        """SIGTERM: the router keeps listening until it has released its VIPs."""
        self._apply(r, r.fsm.stop(self.now))

    def master(self) -> Router:
        (m,) = [r for r in self.routers if r.fsm.state == State.MASTER and r.alive]
        return m


def test_election_and_hard_failover() -> None:
    lan = Lan()
    a = lan.add("A", "192.0.2.1", 150)
    b = lan.add("B", "192.0.2.2", 100)
    lan.run_until(5.0)
    assert lan.master() is a and b.fsm.state == State.BACKUP
    assert a.vip_since == pytest.approx(master_down_interval(3, 150, 20), abs=0.01)
    lan.kill(a)
    killed = lan.now
    lan.run_until(10.0)
    assert lan.master() is b
    took = b.vip_since - killed  # type: ignore[operator]
    assert took <= master_down_interval(3, 100, 20) + 0.001
    assert took >= master_down_interval(3, 100, 20) - 0.2


def test_graceful_stop_hands_over_in_skew_time() -> None:
    lan = Lan()
    a = lan.add("A", "192.0.2.1", 150)
    b = lan.add("B", "192.0.2.2", 100)
    lan.run_until(3.0)
    lan.stop(a)
    stopped = lan.now
    lan.run_until(6.0)
    assert lan.master() is b
    assert b.vip_since - stopped == pytest.approx(skew_time(3, 100, 20) + LATENCY, abs=1e-6)  # type: ignore[operator]
    (released,) = [t for t, name, what in lan.log if name == "A" and what == "del"]
    assert released == pytest.approx(b.vip_since + LATENCY + a.fsm.cfg.release_delay, abs=1e-6)  # type: ignore[operator]


def test_preemption_and_equal_priority_tie_break() -> None:
    lan = Lan()
    low = lan.add("B", "192.0.2.2", 100)
    lan.run_until(3.0)
    assert lan.master() is low
    high = lan.add("A", "192.0.2.1", 150)
    lan.run_until(6.0)
    assert lan.master() is high and not low.holds_vip
    tie = Lan()
    tie.add("A", "192.0.2.1", 100)
    hi_ip = tie.add("B", "192.0.2.2", 100)
    tie.run_until(4.0)
    assert tie.master() is hi_ip


def test_nopreempt_keeps_first_master() -> None:
    lan = Lan()
    low = lan.add("B", "192.0.2.2", 100, nopreempt=True)
    lan.run_until(3.0)
    lan.add("A", "192.0.2.1", 150, nopreempt=True)
    lan.run_until(10.0)
    assert lan.master() is low


def test_three_routers_highest_backup_wins() -> None:
    lan = Lan()
    a = lan.add("A", "192.0.2.1", 150)
    b = lan.add("B", "192.0.2.2", 120)
    c = lan.add("C", "192.0.2.3", 100)
    lan.run_until(3.0)
    assert lan.master() is a
    lan.kill(a)
    lan.run_until(6.0)
    assert lan.master() is b and c.fsm.state == State.BACKUP
    assert not any(e[1] == "C" for e in lan.log)


def test_v2_pair_at_one_second() -> None:
    lan = Lan()
    a = lan.add("A", "192.0.2.1", 200, version=2, advert_int=1)
    b = lan.add("B", "192.0.2.2", 100, version=2, advert_int=1)
    lan.run_until(10.0)
    assert lan.master() is a
    lan.kill(a)
    t0 = lan.now
    lan.run_until(20.0)
    assert lan.master() is b and b.vip_since - t0 <= 3.61  # type: ignore[operator]


def test_tracking_drop_moves_vip_and_recovery_preempts_back() -> None:
    lan = Lan()
    a = lan.add("A", "192.0.2.1", 150)
    b = lan.add("B", "192.0.2.2", 100)
    lan.run_until(3.0)
    lan._apply(a, a.fsm.set_tracking(90, False, lan.now))
    dropped = lan.now
    lan.run_until(6.0)
    assert lan.master() is b and a.fsm.state == State.BACKUP
    # the lowered priority is advertised at once; B takes over after its Skew_Time
    assert b.vip_since - dropped == pytest.approx(LATENCY + skew_time(3, 100, 20), abs=1e-6)  # type: ignore[operator]
    lan._apply(a, a.fsm.set_tracking(150, False, lan.now))
    lan.run_until(9.0)
    assert lan.master() is a and not b.holds_vip
