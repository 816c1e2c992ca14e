"""penvrrp.core.tracking: rise and fall, the effective priority, the pen tracker's replies."""
from __future__ import annotations

from penvrrp.core import tracking


def test_first_result_decides_then_rise_and_fall() -> None:
    t = tracking.TrackState("pen", weight=-60, rise=2, fall=3)
    assert t.ok is None and not t.failing
    assert t.observe(True)
    assert not t.observe(False) and not t.observe(False)
    assert t.observe(False) and t.failing
    assert not t.observe(True)
    assert not t.observe(False)  # a success streak is broken by a failure
    assert not t.observe(True)
    assert t.observe(True) and t.ok


def test_effective_priority_rules() -> None:
    down = tracking.TrackState("a", weight=-60, ok=False)
    up_bonus = tracking.TrackState("b", weight=20, ok=True)
    fault = tracking.TrackState("c", weight=0, ok=False)
    fine = tracking.TrackState("d", weight=0, ok=True)
    assert tracking.effective(150, [down]) == (90, False)
    assert tracking.effective(150, [down, up_bonus]) == (110, False)
    assert tracking.effective(250, [up_bonus]) == (254, False)
    assert tracking.effective(30, [down]) == (1, False)
    assert tracking.effective(255, [down]) == (255, False)
    assert tracking.effective(100, [fine]) == (100, False)
    assert tracking.effective(100, [fine, fault]) == (100, True)
    assert tracking.effective(100, [tracking.TrackState("x", weight=-5)]) == (100, False)


def test_parse_pid_reply() -> None:
    assert tracking.parse_pid_reply(b"1234\n") == 1234
    assert tracking.parse_pid_reply(b"  77 ") == 77
    assert tracking.parse_pid_reply(b"") is None
    assert tracking.parse_pid_reply(b"error\n") is None
