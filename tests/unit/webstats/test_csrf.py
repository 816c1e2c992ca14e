"""webstats.csrf: the CSRF token and the session cookie."""
from __future__ import annotations

import re

from webstats import csrf


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
