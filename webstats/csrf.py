"""CSRF protection for webstats' actions: a per-session cookie and an HMAC token.

The token is HMAC-SHA256(secret, session id).  The session id lives in an HttpOnly,
SameSite=Strict cookie; the token is in the form.  A cross-site page can neither read the
cookie nor compute the token, so a forged POST fails.  Nothing is stored on the server, so
this works under CGI (one process per request) as long as the secret is configured
(WEBSTATS_SECRET) rather than generated per process.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from http.cookies import CookieError, SimpleCookie

COOKIE = "webstats_session"
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


def set_cookie(session: str, path: str) -> str:
    """The Set-Cookie value; `path` is the script's path (CGI) or "/"."""
    return f"{COOKIE}={session}; Path={path or '/'}; HttpOnly; SameSite=Strict"


def token(secret: bytes, session: str) -> str:
    return hmac.new(secret, b"webstats-csrf:" + session.encode(), hashlib.sha256).hexdigest()


def valid(secret: bytes, session: str | None, given: str | None) -> bool:
    if not secret or not session or not given:
        return False
    return hmac.compare_digest(token(secret, session), given)
