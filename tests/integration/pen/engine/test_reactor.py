"""The reactor's clock comes from outside (pen/engine/reactor.py): timers follow it."""
from __future__ import annotations

from pen.engine.reactor import Reactor
from support.engine import FakeClock


def test_timers_follow_the_given_clock_not_real_time() -> None:
    clock = FakeClock(100.0)
    r = Reactor(clock=clock)
    fired: list[float] = []
    r.call_later(10.0, lambda: fired.append(clock()))
    r.every(1.0, lambda: fired.append(-clock()))
    for _ in range(5):
        r.run_once(0.001)
    assert fired == []
    clock.advance(1.0)
    r.run_once(0.001)
    assert fired == [-101.0]
    clock.advance(9.0)
    r.run_once(0.001)
    assert fired[1:] == [110.0, -110.0] or fired[1:] == [-110.0, 110.0]
    assert r.now == 110.0
    r.close()
