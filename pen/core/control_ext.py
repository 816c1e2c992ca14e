"""penctl commands pen-ha adds to C pen's set (issue 9), registered into the interpreter.

  leastconn | no leastconn            least connections (between weight and hash in precedence)
  hash_method [modulo|consistent]     C pen's modulus hash, or weighted rendezvous hashing
  queue_max [N], queue_timeout [S]    clients wait up to S seconds when every server is full
  send_proxy [0|1|2]                  PROXY protocol header to servers (0 = off)
  accept_proxy | no accept_proxy      expect a PROXY header from a balancer in front
  log_ports | no log_ports            -l FILE lines carry the connection's ports (mergelogs)
  server N drain [sticky] | undrain   no new connections (with `sticky`, its tracked clients
                                      are still admitted); open connections finish
  server N proxy 0|1|2|default        PROXY version for this server
  backend_tls | no backend_tls        TLS to servers, certificates verified (server N tls on|off)
  backend_tls_ca [FILE]               CA file for that verification (default: the system's)
  backend_tls_noverify                accept any server certificate (testing only)
  server N check tcp|http [PATH]|agent [port P] [interval S] [timeout S] [rise N] [fall N]
               [expect CODE|Nxx] [host H]       (the rest of the line)
  server N no_check
  server_state                        one line per server: its state and health
  snapshot_json, history, history_json, metrics   live status as JSON, load history,
                                      Prometheus text (pen.core.livestatus)
C pen's own commands and replies are unchanged; `servers` keeps C's exact format.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from pen.core.health import CheckSpecError, HealthState, parse_check
from pen.core.servers import Server
from pen.core.state import PenState

if TYPE_CHECKING:
    from pen.core.control import Interpreter

HASH_METHODS = ("modulo", "consistent")
EXT_FLAGS = ("leastconn", "accept_proxy", "log_ports", "backend_tls", "backend_tls_noverify")
SERVER_FLAGS = ("drain", "undrain", "no_check")
WORDS = ("hash_method", "queue_max", "queue_timeout", "send_proxy", "server_state",
         "backend_tls_ca") + EXT_FLAGS
STATUS_WORDS = ("snapshot_json", "history", "history_json", "metrics")   # pen.core.livestatus
WORDS += STATUS_WORDS


class ExtError(ValueError):
    pass


def register(interp: Interpreter, error: type[Exception]) -> None:
    st = interp.state

    def getset(attr: str, parse: Callable[[str], object], show: Callable[[object], str] = str):
        def command(words: list[str]) -> str:
            if len(words) > 1:
                try:
                    setattr(st.settings, attr, parse(words[1]))
                except ExtError as e:
                    raise error(str(e)) from None
            return f"{show(getattr(st.settings, attr))}\n"
        return command

    interp.table.update({
        "hash_method": getset("hash_method", _choice("hash_method", HASH_METHODS)),
        "queue_max": getset("queue_max", _number("queue_max", int, 0)),
        "queue_timeout": getset("queue_timeout", _number("queue_timeout", float, 0.0), _fmt),
        "send_proxy": getset("send_proxy", _number("send_proxy", int, 0, 2)),
        "backend_tls_ca": getset("backend_tls_ca", str, lambda v: v or ""),
        "server_state": lambda words: server_state(st, interp.fx.now()),
        "takeover": _takeover_elsewhere(error),
    })
    from pen.core import livestatus          # issue 5: webstats' status, history, metrics
    interp.table.update(livestatus.commands(interp, error))


def _takeover_elsewhere(error: type[Exception]) -> Callable[[list[str]], str]:
    """`takeover` is served by the control server itself (it passes a socket); reaching the
    interpreter means it came from a file, -o, or a TCP control port."""
    def command(words: list[str]) -> str:
        raise error("takeover works only over pen's unix control socket (pen --takeover PATH)")
    return command


def _choice(what: str, allowed: tuple[str, ...]) -> Callable[[str], str]:
    def parse(word: str) -> str:
        if word not in allowed:
            raise ExtError(f"{what}: expected {' or '.join(allowed)}")
        return word
    return parse


def _number(what: str, kind: type, low: float, high: float | None = None) -> Callable[[str], object]:
    def parse(word: str) -> object:
        try:
            value = kind(word)
        except ValueError:
            raise ExtError(f"{what}: '{word}' is not a number") from None
        if value < low or (high is not None and value > high):
            raise ExtError(f"{what}: {word} out of range")
        return value
    return parse


def _fmt(x: object) -> str:
    return str(int(x)) if isinstance(x, float) and x == int(x) else str(x)


def split_server_words(n: int, pairs: list[str]) -> tuple[list[str], dict]:
    """Take pen-ha's keywords out of a `server N ...` line; the rest are C's key/value pairs."""
    ext: dict = {}
    if "check" in pairs:
        i = pairs.index("check")
        try:
            ext["check"] = parse_check(pairs[i + 1:])
        except CheckSpecError as e:
            raise ExtError(f"server {n} {e}") from None
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
                raise ExtError(f"server {n} tls: expected on, off or default")
            ext["tls"] = {"on": 1, "off": 0, "default": -1}[value]
            i += 2
        elif word == "proxy" and i + 1 < len(pairs):
            value = pairs[i + 1]
            if value not in ("0", "1", "2", "default"):
                raise ExtError(f"server {n} proxy: expected 0, 1, 2 or default")
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


def state_word(st: PenState, srv: Server, now: float) -> str:
    if not srv.has_address():
        return "unused"
    if srv.down():
        return "down"
    if srv.blacklisted(now, st.settings.blacklist):
        return "blacklisted"
    if srv.drain:
        return "draining"
    if srv.maxc and srv.load() >= srv.maxc:
        return "full"
    return "up"


def server_state(st: PenState, now: float) -> str:
    out = []
    for srv in st.servers.servers:
        line = (f"{srv.index} addr {srv.address_text()} port {srv.port} "
                f"state {state_word(st, srv, now)} conn {srv.c} pending {srv.pending} "
                f"total {srv.total} failures {srv.failures} "
                f"blacklist_left {int(srv.blacklist_left(now, st.settings.blacklist) + 0.999)}")
        if srv.check is not None:
            h = srv.health
            line += f" check {srv.check.kind} health {'up' if h is None or h.up else 'down'}"
            if h is not None and h.last:
                line += f" last {h.last.replace(' ', '_')}"
        out.append(line + "\n")
    return "".join(out)


def render_settings(st: PenState) -> list[str]:
    """pen-ha's settings as commands, for `write`."""
    s = st.settings
    return [f"hash_method {s.hash_method}", f"queue_max {s.queue_max}",
            f"queue_timeout {_fmt(s.queue_timeout)}", f"send_proxy {s.send_proxy}",
            "accept_proxy" if s.accept_proxy else "no accept_proxy",
            "leastconn" if s.leastconn else "no leastconn",
            "log_ports" if s.log_ports else "no log_ports",
            "backend_tls" if s.backend_tls else "no backend_tls",
            "backend_tls_noverify" if s.backend_tls_noverify else "no backend_tls_noverify"] + \
        ([f"backend_tls_ca {s.backend_tls_ca}"] if s.backend_tls_ca else []) + \
        ([f"geoip_db {' '.join(s.geoip_db)}"] if s.geoip_db else [])


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
