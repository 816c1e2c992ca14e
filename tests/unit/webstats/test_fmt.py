"""webstats.fmt: the number formatting of the page."""
from __future__ import annotations

from webstats.fmt import count, rate, short_duration, size, uptime


def test_formatting() -> None:
    assert size(0) == "0 B" and size(1536) == "1.5 KiB" and size(5 * 1024 ** 3) == "5.0 GiB"
    assert rate(2048) == "2.0 KiB/s" and rate("x") == "x"
    assert count(1234567) == "1\u202f234\u202f567" and count(None) == ""
    assert short_duration(12) == "12 s" and short_duration(0.25) == "0.2 s" and short_duration(900) == "15 min"
    assert uptime(59) == "59s" and uptime(3725) == "1h 2m" and uptime(90000) == "1d 1h 0m"
