"""penctl commands pen-ha adds to C pen's set (issue 9): `commands()` declares them (assembled
with the others in pen/core/control/__init__.py), `render()` writes their settings back.

  leastconn | no leastconn            least connections (between weight and hash in precedence)
  hash_method [modulo|consistent]     C pen's modulus hash, or weighted rendezvous hashing
  queue_max [N], queue_timeout [S]    clients wait up to S seconds when every server is full
  tls_handshake_timeout [S]           a TLS client not done with its handshake in S s is closed
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
  workers [N|auto]                    worker processes (start-up only: -o or the -F file)
  snapshot_json, history, history_json, metrics   live status as JSON, load history,
                                      Prometheus text (pen.core.livestatus)
C pen's own commands and replies are unchanged; `servers` keeps C's exact format.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from pen.core.balance.servers import Server
from pen.core.balance.state import PenState
from pen.core.numbers import ascii_fixed, ascii_integer, worker_count
from pen.settings import MAX_WORKERS

if TYPE_CHECKING:
    from pen.core.control.interpreter import Interpreter

HASH_METHODS = ("modulo", "consistent")
# settings switched by `X` and `no X`, as C pen's flags
FLAGS: tuple[str, ...] = ("leastconn", "accept_proxy", "log_ports", "backend_tls",
                         "backend_tls_noverify")


class ExtError(ValueError):
    pass


def commands(interp: Interpreter, error: type[Exception]) -> dict[str, Callable[[list[str]], str]]:
    st = interp.state

    def getset(attr: str, parse: Callable[[str], object],
               show: Callable[[object], str] = str) -> Callable[[list[str]], str]:
        def command(words: list[str]) -> str:
            if len(words) > 1:
                try:
                    setattr(st.settings, attr, parse(words[1]))
                except ExtError as e:
                    raise error(str(e)) from None
            return f"{show(getattr(st.settings, attr))}\n"
        return command

    def workers(words: list[str]) -> str:
        if len(words) > 1:
            if interp.running:
                raise error("workers: only at start-up (-o or the -F file); restart pen")
            n = worker_count(words[1], MAX_WORKERS)
            if n is None:
                raise error(f"workers: '{words[1]}': give 1-{MAX_WORKERS} or auto")
            st.settings.workers = n
        return f"{st.settings.workers or 'auto'}\n"

    return {
        "workers": workers,
        "hash_method": getset("hash_method", _choice("hash_method", HASH_METHODS)),
        "queue_max": getset("queue_max", _number("queue_max", int, 0)),
        "queue_timeout": getset("queue_timeout", _number("queue_timeout", float, 0.0), _fmt),
        "tls_handshake_timeout": getset("tls_handshake_timeout",
                                        _number("tls_handshake_timeout", float, 0.1, 3600.0), _fmt),
        "send_proxy": getset("send_proxy", _number("send_proxy", int, 0, 2)),
        "backend_tls_ca": getset("backend_tls_ca", str, lambda v: str(v or "")),
        "server_state": lambda words: server_state(st, interp.fx.now()),
        "takeover": _takeover_elsewhere(error),
    }


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
        value = ascii_integer(word) if kind is int else ascii_fixed(word.removeprefix("-"))
        if value is not None and kind is not int and word.startswith("-"):
            value = -value
        if value is None:
            raise ExtError(f"{what}: '{word}' is not a number")
        if value < low or (high is not None and value > high):
            raise ExtError(f"{what}: {word} out of range")
        return value
    return parse


def _fmt(x: object) -> str:
    return str(int(x)) if isinstance(x, float) and x == int(x) else str(x)


def server_state(st: PenState, now: float) -> str:
    out = []
    for srv in st.servers.servers:
        line = (f"{srv.index} addr {srv.address_text()} port {srv.port} "
                f"state {srv.state_word(now, st.settings.blacklist)} conn {srv.c} pending {srv.pending} "
                f"total {srv.total} failures {srv.failures} "
                f"blacklist_left {int(srv.blacklist_left(now, st.settings.blacklist) + 0.999)}")
        if srv.check is not None:
            h = srv.health
            line += f" check {srv.check.kind} health {'up' if h is None or h.up else 'down'}"
            if h is not None and h.last:
                line += f" last {h.last.replace(' ', '_')}"
        out.append(line + "\n")
    return "".join(out)


def render(st: PenState) -> list[str]:
    """pen-ha's settings as commands, for `write`."""
    s = st.settings
    return [f"hash_method {s.hash_method}", f"queue_max {s.queue_max}",
            f"queue_timeout {_fmt(s.queue_timeout)}",
            f"tls_handshake_timeout {_fmt(s.tls_handshake_timeout)}", f"send_proxy {s.send_proxy}",
            "accept_proxy" if s.accept_proxy else "no accept_proxy",
            "leastconn" if s.leastconn else "no leastconn",
            "log_ports" if s.log_ports else "no log_ports",
            "backend_tls" if s.backend_tls else "no backend_tls",
            "backend_tls_noverify" if s.backend_tls_noverify else "no backend_tls_noverify"] + \
        ([f"backend_tls_ca {s.backend_tls_ca}"] if s.backend_tls_ca else [])


def render_server(srv: Server) -> list[str]:
    return []        # its server keywords are the `server` command's (serverwords)
