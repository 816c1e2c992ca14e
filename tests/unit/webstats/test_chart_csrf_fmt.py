"""The SVG chart, the CSRF token and the number formatting."""
from __future__ import annotations

import re

from support.webstats import Dom
from webstats import chart, csrf
from webstats.fmt import count, rate, short_duration, size, uptime


def series(n: int) -> dict:
    return {"address": "a", "t": [100.0 + 5 * k for k in range(n)], "conn": list(range(n)),
            "pending": [0] * n, "sx": [1000 * k for k in range(n)],
            "rx": [5000 * k for k in range(n)], "total": [0] * n, "failures": [0] * n}


def coords(d: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in re.findall(r"[ML]([\d.]+),([\d.]+)", d)]


def test_chart_plots_within_its_box_and_peaks_at_the_top() -> None:
    svg = chart.svg(0, series(10), 145.0, 900.0, "10.0.0.1:80")
    dom = Dom(svg)
    paths = {p.attrs["class"]: p.attrs["d"] for p in dom.find("path")}
    assert set(paths) == {"conn-area", "conn-line", "sent-line", "recv-line"}
    line = coords(paths["conn-line"])
    assert len(line) == 10
    assert all(chart.LEFT <= x <= chart.RIGHT and 0 <= y <= chart.H for x, y in line)
    assert line[-1] == (chart.RIGHT, chart.PANELS[0][0])       # newest, highest: top right
    assert min(y for _, y in coords(paths["recv-line"])) == chart.PANELS[1][0]
    assert "peak 9" in dom.text and "peak 1000 B/s" in dom.text     # 5000 B / 5 s
    assert "−15 min" in dom.text


def test_chart_without_samples_says_so() -> None:
    dom = Dom(chart.svg(3, None, 0.0, 900.0, "x"))
    assert dom.find("svg")[0].attrs["data-samples"] == "0"
    assert "collecting samples" in dom.text
    assert not dom.find("path", "sent-line")


def test_csrf_token_is_bound_to_secret_and_session() -> None:
    s = csrf.new_session()
    assert re.fullmatch(r"[0-9a-f]{32}", s)
    now = 1_800_000_000.0
    tok = csrf.token(b"k", s, now)
    assert csrf.valid(b"k", s, tok, now)
    assert not csrf.valid(b"other", s, tok, now)
    assert not csrf.valid(b"k", csrf.new_session(), tok, now)
    assert not csrf.valid(b"k", s, None, now) and not csrf.valid(b"", s, tok, now)
    assert not csrf.valid(b"k", None, tok, now)


def test_csrf_token_expires_and_its_time_cannot_be_forged() -> None:
    s = csrf.new_session()
    now = 1_800_000_000.0
    tok = csrf.token(b"k", s, now)
    assert csrf.valid(b"k", s, tok, now + csrf.TOKEN_TTL)
    assert csrf.check(b"k", s, tok, now + csrf.TOKEN_TTL + 1) == \
        "the page is too old (its CSRF token expired)"
    assert csrf.valid(b"k", s, tok, now - csrf.CLOCK_SKEW)
    assert not csrf.valid(b"k", s, tok, now - csrf.CLOCK_SKEW - 1)
    issued, mac = tok.split(".")
    fresher = f"{int(issued) + 3600}.{mac}"        # a new time on an old MAC
    assert csrf.check(b"k", s, fresher, now + csrf.TOKEN_TTL + 1) == "wrong CSRF token"
    for bad in (mac, f"-1.{mac}", f"{issued}.", f"१२.{mac}", f"{issued}.{mac}.x", ""):
        assert not csrf.valid(b"k", s, bad, now), bad


def test_session_cookie_parsing_and_attributes() -> None:
    s = csrf.new_session()
    assert csrf.session_from(f"a=b; {csrf.COOKIE}={s}") == s
    assert csrf.session_from(f"{csrf.COOKIE}=short") is None
    assert csrf.session_from('x="unterminated') is None
    assert csrf.session_from("") is None
    cookie = csrf.set_cookie(s, "/cgi-bin/webstats")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    assert csrf.set_cookie(s, "/", secure=True).endswith("; Secure")
    assert "Path=/cgi-bin/webstats" in cookie


def test_formatting() -> None:
    assert size(0) == "0 B" and size(1536) == "1.5 KiB" and size(5 * 1024 ** 3) == "5.0 GiB"
    assert rate(2048) == "2.0 KiB/s" and rate("x") == "x"
    assert count(1234567) == "1\u202f234\u202f567" and count(None) == ""
    assert short_duration(12) == "12 s" and short_duration(0.25) == "0.2 s" and short_duration(900) == "15 min"
    assert uptime(59) == "59s" and uptime(3725) == "1h 2m" and uptime(90000) == "1d 1h 0m"
