"""penvrrp.core.fsm driven by a fake clock: RFC 5798 §6.4 transitions, keepalived extras."""

from __future__ import annotations

import pytest

from penvrrp.core import config
from penvrrp.core.fsm import AddVips, Announce, DelVips, Fsm, Notify, SendAdvert, State
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
    f.on_advert(ad(50), "192.0.2.2", 0.7)
    assert f.down_at == pytest.approx(0.6 + f.master_down)
    assert f.counters["lower_prio_discarded"] == 1


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
    assert took is not None and 1.0 + f.master_down - 0.2 <= took <= 1.0 + f.master_down + 0.2


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
    f = make(100, addr="192.0.2.1")
    f.start(0.0)
    f.tick(1.0)
    assert kinds(f.on_advert(ad(150), "192.0.2.2", 1.1)) == [DelVips, Notify]
    assert f.state == State.BACKUP
    g = make(100, addr="192.0.2.5")
    g.start(0.0)
    g.tick(1.0)
    g.on_advert(ad(100), "192.0.2.2", 1.1)
    assert g.state == State.MASTER
    g.on_advert(ad(100), "192.0.2.9", 1.2)
    assert g.state == State.BACKUP


def test_master_answers_lower_priority_at_once_rfc9568() -> None:
    f = make(150)
    f.start(0.0)
    f.tick(1.0)
    acts = f.on_advert(ad(100), "192.0.2.2", 1.05)
    assert SendAdvert(150) in acts and Announce(5) in acts
    acts = f.on_advert(ad(100), "192.0.2.2", 1.1)
    assert SendAdvert(150) in acts and not any(isinstance(a, Announce) for a in acts)
    assert f.state == State.MASTER
    assert SendAdvert(150) in f.on_advert(ad(0), "192.0.2.2", 1.2)


def test_stop_resigns_with_priority_zero() -> None:
    f = make(100)
    f.start(0.0)
    f.tick(1.0)
    acts = f.stop(1.5)
    assert acts[0] == SendAdvert(0) and DelVips() in acts and acts[-1] == Notify(State.STOP, 100)
    assert f.counters["priority_zero_sent"] == 1 and f.next_deadline() is None
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
    assert f.state == State.FAULT and SendAdvert(0) in acts and DelVips() in acts
    assert Notify(State.FAULT, 90) in acts
    assert f.on_advert(ad(50), "192.0.2.2", 1.3) == [] and f.next_deadline() is None
    acts = f.set_tracking(150, False, 2.0)
    assert f.state == State.BACKUP and Notify(State.BACKUP, 150) in acts


def test_fault_at_start() -> None:
    f = make(100)
    f.set_tracking(100, True, 0.0)
    assert f.state == State.INIT
    f.start(0.0)
    assert f.state == State.FAULT
