"""VRRP timer arithmetic (RFC 3768 §6.1, RFC 5798/9568 §6.1) and log rate limiting.

Pure functions of priority and interval; all results in seconds (floats) so the
state machine can compare them with the ``now`` it is fed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

V2_MAX_INTERVAL_S = 255
V3_MAX_INTERVAL_CS = 4095


def interval_to_cs(seconds: float, version: int) -> int:
    """Validate a configured advert interval and return centiseconds.

    v2 carries whole seconds in a byte (RFC 3768 §5.3.7: 0.01 would silently encode 0);
    v3 carries 12 bits of centiseconds (0.01 to 40.95 s).
    """
    if version == 2:
        if seconds != int(seconds) or not 1 <= seconds <= V2_MAX_INTERVAL_S:
            raise ValueError(f"VRRPv2 advert interval must be whole seconds 1-255, not {seconds}")
        return int(seconds) * 100
    cs = round(seconds * 100)
    if abs(cs - seconds * 100) > 1e-6 or not 1 <= cs <= V3_MAX_INTERVAL_CS:
        raise ValueError(f"VRRPv3 advert interval must be 0.01-40.95 s in 0.01 s steps, not {seconds}")
    return cs


def skew_time(version: int, priority: int, interval_cs: int) -> float:
    """Skew_Time: v2 (256-prio)/256 s (RFC 3768 §6.1); v3 scales by the interval (RFC 5798 §6.1)."""
    if version == 2:
        return (256 - priority) / 256.0
    return (256 - priority) * interval_cs / 256.0 / 100.0


def master_down_interval(version: int, priority: int, interval_cs: int) -> float:
    """Master_Down_Interval = 3 x Master_Adver_Interval + Skew_Time."""
    return 3 * interval_cs / 100.0 + skew_time(version, priority, interval_cs)


@dataclass(slots=True)
class RateLimiter:
    """At most ``burst`` log lines per key per ``period`` seconds (RFC 9568 §7.1: invalid
    packets must be logged with rate limiting).  ``suppressed`` counts what was held back,
    so the next line can say how many were skipped."""

    period: float = 1.0
    burst: int = 1
    _windows: dict[str, tuple[float, int]] = field(default_factory=dict)
    suppressed: dict[str, int] = field(default_factory=dict)

    def allow(self, key: str, now: float) -> bool:
        start, used = self._windows.get(key, (float("-inf"), 0))
        if now - start >= self.period:
            self._windows[key] = (now, 1)
            return True
        if used < self.burst:
            self._windows[key] = (start, used + 1)
            return True
        self.suppressed[key] = self.suppressed.get(key, 0) + 1
        return False

    def take_suppressed(self, key: str) -> int:
        return self.suppressed.pop(key, 0)
