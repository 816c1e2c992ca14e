"""CSRF protection for webstats' actions: a per-session cookie and an HMAC token that expires.

The token is `ISSUED.HMAC-SHA256(secret, session id, ISSUED)`, ISSUED the Unix time it was
made; it is good for TOKEN_TTL seconds (the page re-issues one on every load and refresh).
The session id lives in an HttpOnly, SameSite=Strict cookie, `Secure` when the page came over
HTTPS; the token is in the form.  A cross-site page can neither read the cookie nor compute
the token, and a token that leaked (a log, a cache) is soon worthless.  Nothing is stored on
the server, so this works under CGI (one process per request) as long as the secret is
configured (WEBSTATS_SECRET) rather than generated per process.  Time comes in as `now`.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from http.cookies import CookieError, SimpleCookie

from pen.core.numbers import ascii_decimal

COOKIE = "webstats_session"
TOKEN_TTL = 4 * 3600          # seconds a page's forms stay usable
CLOCK_SKEW = 300              # a token from slightly in the future (several CGI hosts) is fine
_SESSION = re.compile(r"^[0-9a-f]{32}$")


def new_session() -> str:
    return secrets.token_hex(16)


def session_from(cookie_header: str) -> str | None:
    """The session id from a Cookie header, if it has the right shape."""
    if not cookie_header:
        return None
    jar = SimpleCookie()
    try:
        jar.load(cookie_header)
    except CookieError:
        return None
    morsel = jar.get(COOKIE)
    if morsel is None or not _SESSION.match(morsel.value):
        return None
    return morsel.value


def set_cookie(session: str, path: str, secure: bool = False) -> str:
    """The Set-Cookie value; `path` is the script's path (CGI) or "/"; `secure` over HTTPS,
    so the browser never sends the cookie over plain HTTP."""
    return (f"{COOKIE}={session}; Path={path or '/'}; HttpOnly; SameSite=Strict"
            + ("; Secure" if secure else ""))


def _mac(secret: bytes, session: str, issued: int) -> str:
    return hmac.new(secret, f"webstats-csrf:{session}:{issued}".encode(),
                    hashlib.sha256).hexdigest()


def token(secret: bytes, session: str, now: float) -> str:
    issued = int(now)
    return f"{issued}.{_mac(secret, session, issued)}"


def check(secret: bytes, session: str | None, given: str | None, now: float) -> str | None:
    """None when `given` is a good token for this session now, else why not."""
    if not secret or not session or not given:
        return "missing CSRF token or session cookie"
    issued_text, sep, mac = given.partition(".")
    issued = ascii_decimal(issued_text, 12) if sep else None
    if issued is None or not hmac.compare_digest(_mac(secret, session, issued), mac):
        return "wrong CSRF token"
    if not issued - CLOCK_SKEW <= now <= issued + TOKEN_TTL:
        return "the page is too old (its CSRF token expired)"
    return None


def valid(secret: bytes, session: str | None, given: str | None, now: float) -> bool:
    return check(secret, session, given, now) is None
