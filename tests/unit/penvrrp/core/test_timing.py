"""penvrrp.core.timing: Skew_Time and Master_Down_Interval (RFC 9568 6.1, RFC 3768 6.1), the
advert interval, the log rate limiter."""
from __future__ import annotations

import pytest

from penvrrp.core import timing


@pytest.mark.parametrize("prio,skew,down", [(254, 0.008, 3.008), (200, 0.219, 3.219), (100, 0.609, 3.609),
                                            (50, 0.805, 3.805)])
def test_v2_and_v3_at_one_second_match_spec_table(prio: int, skew: float, down: float) -> None:
    for version in (2, 3):
        assert timing.skew_time(version, prio, 100) == pytest.approx(skew, abs=5e-4)
        assert timing.master_down_interval(version, prio, 100) == pytest.approx(down, abs=5e-4)


@pytest.mark.parametrize("prio,skew,down", [(254, 0.0016, 0.602), (150, 0.083, 0.683), (100, 0.122, 0.722)])
def test_v3_scales_skew_with_interval(prio: int, skew: float, down: float) -> None:
    assert timing.skew_time(3, prio, 20) == pytest.approx(skew, abs=5e-4)
    assert timing.master_down_interval(3, prio, 20) == pytest.approx(down, abs=5e-4)
    assert timing.skew_time(2, prio, 100) != pytest.approx(timing.skew_time(3, prio, 20))


def test_interval_validation() -> None:
    assert timing.interval_to_cs(0.2, 3) == 20
    assert timing.interval_to_cs(40.95, 3) == 4095
    assert timing.interval_to_cs(1, 2) == 100
    for bad, version in [(0.5, 2), (0, 2), (256, 2), (0.001, 3), (41, 3), (0.125, 3)]:
        with pytest.raises(ValueError):
            timing.interval_to_cs(bad, version)


def test_rate_limiter() -> None:
    rl = timing.RateLimiter(period=1.0)
    assert rl.allow("ttl", 10.0)
    assert not rl.allow("ttl", 10.5)
    assert not rl.allow("ttl", 10.9)
    assert rl.allow("checksum", 10.9)
    assert rl.take_suppressed("ttl") == 2
    assert rl.allow("ttl", 11.0)
    assert rl.take_suppressed("ttl") == 0
