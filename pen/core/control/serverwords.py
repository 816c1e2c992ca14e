"""pen-ha's words on a `server N ...` line: drain [sticky], undrain, no_check, check ...,
tls on|off|default, proxy 0|1|2|default (docs/penctl.md "pen-ha's own commands").

The `server` command is C pen's (pen.core.control.interpreter); these are the keywords pen-ha
adds to it, taken out of the line before C's key/value pairs are read, and written back by
`write` (render_server).
"""
from __future__ import annotations

from pen.core.balance.servers import Server
from pen.core.health import CheckSpecError, HealthState, parse_check

SERVER_FLAGS = ("drain", "undrain", "no_check")


class ServerWordError(ValueError):
    """A pen-ha keyword on a `server` line that cannot be read."""


def split_server_words(n: int, pairs: list[str]) -> tuple[list[str], dict]:
    """Take pen-ha's keywords out of a `server N ...` line; the rest are C's key/value pairs."""
    ext: dict = {}
    if "check" in pairs:
        i = pairs.index("check")
        try:
            ext["check"] = parse_check(pairs[i + 1:])
        except CheckSpecError as e:
            raise ServerWordError(f"server {n} {e}") from None
        pairs = pairs[:i]
    rest = []
    i = 0
    while i < len(pairs):
        word = pairs[i]
        if word in SERVER_FLAGS:
            ext[word] = True
            i += 1
            if word == "drain" and i < len(pairs) and pairs[i] == "sticky":
                ext["sticky"] = True
                i += 1
        elif word == "tls" and i + 1 < len(pairs):
            value = pairs[i + 1]
            if value not in ("on", "off", "default"):
                raise ServerWordError(f"server {n} tls: expected on, off or default")
            ext["tls"] = {"on": 1, "off": 0, "default": -1}[value]
            i += 2
        elif word == "proxy" and i + 1 < len(pairs):
            value = pairs[i + 1]
            if value not in ("0", "1", "2", "default"):
                raise ServerWordError(f"server {n} proxy: expected 0, 1, 2 or default")
            ext["proxy"] = -1 if value == "default" else int(value)
            i += 2
        else:
            rest.append(word)
            i += 1
    return rest, ext


def apply_server_ext(srv: Server, ext: dict) -> None:
    if ext.get("drain"):
        srv.drain, srv.drain_sticky = True, bool(ext.get("sticky"))
    if ext.get("undrain"):
        srv.drain = srv.drain_sticky = False
    if ext.get("no_check"):
        srv.check, srv.health, srv.agent_weight = None, None, None
    if "check" in ext:
        srv.check = ext["check"]
        srv.health = HealthState()
    if "proxy" in ext:
        srv.send_proxy = ext["proxy"]
    if "tls" in ext:
        srv.tls = ext["tls"]


def render_server(srv: Server) -> list[str]:
    out = []
    if srv.drain:
        out.append(f"server {srv.index} drain" + (" sticky" if srv.drain_sticky else ""))
    if srv.send_proxy >= 0:
        out.append(f"server {srv.index} proxy {srv.send_proxy}")
    if srv.tls >= 0:
        out.append(f"server {srv.index} tls {'on' if srv.tls else 'off'}")
    if srv.check is not None:
        out.append(f"server {srv.index} check {srv.check.render()}")
    return out
