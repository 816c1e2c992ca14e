"""Control-port commands for the HA pair (pen-ha additions, docs/penctl.md "Additions").

  serving          the number of servers pen can use now: with an address, not blacklisted,
                   not down by health check, not draining, not full (the emergency server
                   counts when it is usable).  penvrrp's `track_pen` fails while it is 0.
  retry_servers    forget every blacklisting (C pen's `server N blacklist 0` for all), so
                   failures seen while this node's own link was down do not outlive the link;
                   a connect begun before it that fails later does not blacklist again (it
                   too was lost with the link); answers like `serving`.  Health-check
                   verdicts are left to the next check.

Both only read or reset pen's bookkeeping: nothing goes through the balancing path, no
server is connected to, no client is counted (docs/penvrrp.md "Tracking").
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from pen.core.balance.servers import NEVER, Server
from pen.core.balance.state import PenState

if TYPE_CHECKING:
    from pen.core.control.interpreter import Interpreter

FLAGS: tuple[str, ...] = ()


def _with_emergency(st: PenState) -> list[Server]:
    """The servers both commands consider: the table and, when set, the emergency server."""
    emergency = st.servers.emergency
    return list(st.servers.servers) + ([emergency] if emergency is not None else [])


def usable(st: PenState, now: float) -> int:
    return sum(1 for srv in _with_emergency(st) if srv.state_word(now, st.settings.blacklist) == "up")


def retry(st: PenState, now: float) -> None:
    for srv in _with_emergency(st):
        srv.blacklisted_at = NEVER
        srv.retried_at = now


def commands(interp: Interpreter, error: type[Exception]) -> dict[str, Callable[[list[str]], str]]:
    st = interp.state

    def serving(words: list[str]) -> str:
        return f"{usable(st, interp.fx.now())}\n"

    def retry_servers(words: list[str]) -> str:
        retry(st, interp.fx.now())
        return serving(words)

    return {"serving": serving, "retry_servers": retry_servers}


def render(state: PenState) -> list[str]:
    return []                          # nothing to write back: these only read or reset


def render_server(srv: Server) -> list[str]:
    return []
