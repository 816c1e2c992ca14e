"""penvrrp.core.fsm driven by a fake clock: RFC 5798 §6.4 transitions, keepalived extras."""

from __future__ import annotations

import pytest

from penvrrp.core import config
from penvrrp.core.fsm import (AddVips, Announce, DelVips, Forward, Fsm, HideVips, Log, Notify, SendAdvert, State,
                               Unforward)
from penvrrp.core.handover import FORWARD_MARGIN
from penvrrp.core.packet import Advert


def make(prio: int = 100, addr: str = "192.0.2.1", **kw: object) -> Fsm:
    d: dict[str, object] = {"interface": "eth0", "vrid": 51, "vips": ["192.0.2.100/24"], "advert_int": 0.2,
                            "priority": prio}
    d.update(kw)
    return Fsm(config.instance_from_dict(d), addr)


def ad(prio: int, interval: int = 20) -> Advert:
    return Advert(3, 51, prio, ("192.0.2.100",), interval)


def kinds(acts: list[object]) -> list[type]:
    return [type(a) for a in acts if not type(a).__name__ == "Log"]


def test_start_backup_then_master_after_master_down() -> None:
    f = make(100)
    acts = f.start(0.0)
    assert kinds(acts) == [DelVips, Notify] and f.state == State.BACKUP
    assert f.next_deadline() == pytest.approx(0.6 + 156 * 0.2 / 256)
    assert f.tick(0.7) == []
    acts = f.tick(0.73)
    assert f.state == State.MASTER
    assert kinds(acts) == [AddVips, SendAdvert, Announce, Notify]
    assert acts[-1] == Notify(State.MASTER, 100)
    assert f.counters["become_master"] == 1


def test_owner_is_master_at_once() -> None:
    f = make(255)
    assert kinds(f.start(0.0)) == [DelVips, AddVips, SendAdvert, Announce, Notify]
    assert f.state == State.MASTER


def test_master_sends_adverts_and_second_garp_burst() -> None:
    f = make(255, garp_delay=1.0, garp_repeat=3, garp_refresh=2.0)
    f.start(0.0)
    sent = 0
    bursts = []
    t = 0.0
    while t < 2.5:
        t = f.next_deadline()  # type: ignore[assignment]
        for a in f.tick(t):
            if isinstance(a, SendAdvert):
                sent += 1
            if isinstance(a, Announce):
                bursts.append((round(t, 2), a.count))
    assert 11 <= sent <= 13
    assert bursts[0] == (1.0, 3) and (2.0, 1) in bursts


def test_backup_resets_timer_on_higher_or_equal_and_ignores_lower_with_preempt() -> None:
    f = make(100)
    f.start(0.0)
    f.on_advert(ad(150), "192.0.2.2", 0.5)
    assert f.down_at == pytest.approx(0.5 + f.master_down)
    f.on_advert(ad(100), "192.0.2.2", 0.6)
    assert f.down_at == pytest.approx(0.6 + f.master_down)
    f.on_advert(ad(50), "192.0.2.2", 0.7)          # the master's pen failed: take over after skew
    assert f.down_at == pytest.approx(0.7 + f.skew)
    f.on_advert(ad(50), "192.0.2.2", 0.75)         # never later again
    assert f.down_at == pytest.approx(0.7 + f.skew)
    assert f.counters["lower_prio_discarded"] == 2 and f.counters["lower_prio_preempted"] == 1


def test_backup_that_cannot_serve_preempts_nobody_but_fills_silence() -> None:
    f = make(150)
    f.start(0.0)
    f.set_tracking(150, False, 0.0, eligible=False)
    for i in range(20):
        f.on_advert(ad(100), "192.0.2.2", 0.2 * i)
        assert f.tick(0.2 * i + 0.01) == [] and f.state == State.BACKUP
    f.tick(4.0 + f.master_down)                     # the master went silent
    assert f.state == State.MASTER


def test_nopreempt_accepts_lower_master() -> None:
    f = make(150, nopreempt=True)
    f.start(0.0)
    for i in range(20):
        f.on_advert(ad(50), "192.0.2.2", 0.2 * i)
        f.tick(0.2 * i)
    assert f.state == State.BACKUP


def test_preempt_delay() -> None:
    f = make(150, preempt_delay=1.0)
    f.start(0.0)
    t = 0.0
    took = None
    while t < 5 and took is None:
        t = round(t + 0.2, 3)
        if f.state == State.BACKUP:
            f.on_advert(ad(50), "192.0.2.2", t)
        f.tick(t)
        if f.state == State.MASTER:
            took = t
    assert took is not None and 1.0 <= took <= 1.0 + 0.2 + f.skew + 0.2


def test_priority_zero_means_skew_time() -> None:
    f = make(100)
    f.start(0.0)
    f.on_advert(ad(150), "192.0.2.2", 0.1)
    f.on_advert(ad(0), "192.0.2.2", 0.2)
    assert f.down_at == pytest.approx(0.2 + f.skew)
    assert f.counters["priority_zero_rcvd"] == 1


def test_v3_backup_learns_master_interval_and_master_uses_its_own() -> None:
    f = make(100)
    f.start(0.0)
    f.on_advert(ad(200, interval=50), "192.0.2.2", 0.0)
    assert f.master_adver_cs == 50
    assert f.down_at == pytest.approx(1.5 + 156 * 0.5 / 256)
    f.tick(10)
    assert f.state == State.MASTER and f.master_adver_cs == 20


def test_master_steps_down_on_higher_and_on_tie_with_higher_ip() -> None:
    f = make(100, addr="192.0.2.1", release_delay=0.3)
    f.start(0.0)
    f.tick(1.0)
    acts = f.on_advert(ad(150), "192.0.2.2", 1.1)
    assert kinds(acts) == [SendAdvert, HideVips, Notify] and SendAdvert(0) in acts
    assert f.state == State.BACKUP and f.releasing        # serves what still reaches it
    assert f.tick(1.1 + f.cfg.release_delay - 0.01) == []
    assert f.tick(1.1 + f.cfg.release_delay) == [DelVips()] and not f.releasing
    g = make(100, addr="192.0.2.5")
    g.start(0.0)
    g.tick(1.0)
    g.on_advert(ad(100), "192.0.2.2", 1.1)
    assert g.state == State.MASTER
    g.on_advert(ad(100), "192.0.2.9", 1.2)
    assert g.state == State.BACKUP


def test_a_healed_split_brain_ends_with_the_real_master_announcing() -> None:
    """The higher master's advert reaches the lower one first, so the higher never hears a
    lower-priority advert; the priority 0 the lower sends as it steps down makes the higher
    re-send its gratuitous ARPs (clients that followed the lower one come back at once)."""
    hi, lo = make(150, addr="192.0.2.1"), make(100, addr="192.0.2.2")
    for f in (hi, lo):
        f.start(0.0)
        f.tick(5.0)
        assert f.state == State.MASTER                   # both, during the partition
    leaving = lo.on_advert(ad(150), "192.0.2.1", 6.0)
    assert SendAdvert(0) in leaving and lo.state == State.BACKUP
    answer = hi.on_advert(ad(0), "192.0.2.2", 6.001)
    assert SendAdvert(150) in answer and any(isinstance(a, Announce) for a in answer)
    assert hi.state == State.MASTER


def test_asserting_mastership_is_logged_rate_limited() -> None:
    f = make(150)
    f.start(0.0)
    f.tick(1.0)
    lines = []
    for i in range(100):                           # a partition: 20 s of the peer's adverts
        lines += [a for a in f.on_advert(ad(100), "192.0.2.2", 1.0 + 0.2 * i) if isinstance(a, Log)]
    assert len(lines) == 2 and "asserting mastership" in lines[0].message
    assert "(49 more since the last report)" in lines[1].message


def test_master_answers_lower_priority_at_once_rfc9568() -> None:
    f = make(150)
    f.start(0.0)
    f.tick(1.0)
    acts = f.on_advert(ad(100), "192.0.2.2", 1.05)
    assert SendAdvert(150) in acts and Announce(5) in acts
    acts = f.on_advert(ad(100), "192.0.2.2", 1.1)
    assert SendAdvert(150) in acts and not any(isinstance(a, Announce) for a in acts)
    assert f.state == State.MASTER
    acts = f.on_advert(ad(0), "192.0.2.2", 1.2)
    assert SendAdvert(150) in acts and not any(isinstance(a, Announce) for a in acts)   # GARP'd at 1.05
    acts = f.on_advert(ad(0), "192.0.2.2", 2.1)          # a resigning router may have held the VIP
    assert SendAdvert(150) in acts and Announce(5) in acts


def test_stop_resigns_with_priority_zero() -> None:
    f = make(100)
    f.start(0.0)
    f.tick(1.0)
    acts = f.stop(1.5)
    assert acts[0] == SendAdvert(0) and DelVips() not in acts and acts[-1] == Notify(State.STOP, 100)
    assert f.counters["priority_zero_sent"] == 1 and f.releasing
    assert f.on_advert(ad(100), "192.0.2.2", 1.55) == [HideVips()]   # the new master: release soon
    assert f.on_advert(ad(100), "192.0.2.2", 1.6) == []      # hidden once
    assert f.next_deadline() == pytest.approx(1.55 + f.cfg.release_delay)
    assert f.tick(1.55 + f.cfg.release_delay) == [DelVips()] and f.next_deadline() is None
    g = make(100)
    g.start(0.0)
    g.tick(1.0)
    g.stop(1.5)                                              # nobody takes over: bounded
    assert g.next_deadline() == pytest.approx(1.5 + 0.2 + g.cfg.release_delay)
    assert g.tick(g.next_deadline()) == [DelVips()]
    b = make(100)
    b.start(0.0)
    assert SendAdvert(0) not in b.stop(0.1)


def test_tracking_priority_and_fault() -> None:
    f = make(150)
    f.start(0.0)
    f.tick(1.0)
    acts = f.set_tracking(90, False, 1.1)
    assert SendAdvert(90) in acts and f.state == State.MASTER
    acts = f.set_tracking(90, True, 1.2)
    assert f.state == State.FAULT and SendAdvert(0) in acts and f.releasing
    assert Notify(State.FAULT, 90) in acts
    assert f.on_advert(ad(50), "192.0.2.2", 1.3) == [HideVips()]
    assert f.tick(1.3 + f.cfg.release_delay) == [DelVips()] and f.next_deadline() is None
    acts = f.set_tracking(150, False, 2.0)
    assert f.state == State.BACKUP and Notify(State.BACKUP, 150) in acts
    # leaving FAULT with preemption: one interval for a master to speak, then Skew_Time
    assert f.down_at == pytest.approx(2.0 + 0.2 + f.skew)
    g = make(150, nopreempt=True)
    g.start(0.0)
    g.set_tracking(150, True, 0.5)
    g.set_tracking(150, False, 1.0)
    assert g.down_at == pytest.approx(1.0 + g.master_down)


def test_fault_at_start() -> None:
    f = make(100)
    f.set_tracking(100, True, 0.0)
    assert f.state == State.INIT
    f.start(0.0)
    assert f.state == State.FAULT


def test_taking_over_from_a_resigning_master_forwards_its_flows_first() -> None:
    """docs/penvrrp.md "Hand-over": the flows still open through the old master keep
    working; the Forward rule is loaded when the take-over is decided (it acts only where
    the VIP is local), so nothing stands between MASTER and the GARPs, and it ends
    release_delay + FORWARD_MARGIN after the take-over."""
    b = make(100, addr="192.0.2.12")
    b.start(0.0)
    b.on_advert(ad(150), "192.0.2.11", 0.5)
    assert Forward("192.0.2.11") in b.on_advert(ad(0), "192.0.2.11", 1.0)
    assert [a for a in b.on_advert(ad(0), "192.0.2.11", 1.01) if isinstance(a, Forward)] == []   # loaded once
    acts = b.tick(b.next_deadline())           # type: ignore[arg-type]
    assert b.state == State.MASTER and kinds(acts)[0] == AddVips
    assert not [a for a in acts if isinstance(a, (Forward, Unforward))]
    assert b.forward_until == pytest.approx(1.01 + b.skew + b.cfg.release_delay + FORWARD_MARGIN)
    assert Unforward() not in b.tick(b.forward_until - 0.01)   # type: ignore[operator]
    assert Unforward() in b.tick(b.forward_until)               # type: ignore[arg-type]
    assert b.forward_until is None and b.forward_peer is None


def test_preempting_a_lower_master_forwards_and_master_down_does_not() -> None:
    b = make(150, addr="192.0.2.11")
    b.start(0.0)
    b.on_advert(ad(200), "192.0.2.12", 0.1)
    assert Forward("192.0.2.12") in b.on_advert(ad(50), "192.0.2.12", 0.5)   # below ours: after Skew_Time
    b.tick(0.5 + b.skew)
    assert b.state == State.MASTER and b.forward_until is not None
    c = make(100, addr="192.0.2.12")
    c.start(0.0)
    c.on_advert(ad(150), "192.0.2.11", 0.1)      # then silence: the master is gone
    acts = c.tick(c.next_deadline())             # type: ignore[arg-type]
    assert c.state == State.MASTER and not [a for a in acts if isinstance(a, Forward)]
    d = make(100, addr="192.0.2.12")
    d.start(0.0)
    assert Forward("192.0.2.11") in d.on_advert(ad(0), "192.0.2.11", 0.1)   # resigned, but
    assert Unforward() in d.on_advert(ad(200), "192.0.2.13", 0.2)             # a higher master speaks
    assert d.handover_from is None and d.forward_peer is None


def test_a_master_that_comes_back_claims_its_vips_again() -> None:
    """HideVips lasts until DelVips or AddVips (the runtime undoes it with either)."""
    f = make(150, addr="192.0.2.11")
    f.start(0.0)
    f.tick(1.0)
    f.set_tracking(50, False, 1.1)
    acts = f.on_advert(ad(100), "192.0.2.12", 1.2)
    assert HideVips() in acts and f.hidden and f.releasing
    f.set_tracking(150, False, 1.3)
    acts = f.tick(f.next_deadline())              # type: ignore[arg-type]
    assert AddVips() in acts and not f.hidden and not f.releasing
    g = make(150, addr="192.0.2.11", release_delay=0.3)
    g.start(0.0)
    g.tick(1.0)
    g.set_tracking(50, False, 1.1)
    assert HideVips() in g.on_advert(ad(100), "192.0.2.12", 1.2)
    assert g.tick(1.5) == [DelVips()] and not g.hidden
