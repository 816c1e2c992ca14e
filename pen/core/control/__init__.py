"""The penctl command interpreter, assembled: C pen's commands (interpreter.py) and pen-ha's
command modules, each declaring its commands once, in the one list below.  The word list
(penctl's help and completion) is derived from the assembled table, never kept by hand.

Modules: ext (pen-ha's settings, server_state, workers, takeover's refusal), dataplane
(geoip_db), ha (serving, retry_servers for penvrrp), peers (peer, no peer, peer_listen,
peer_key, peers, peers_json: docs/peers.md), status (snapshot_json, history,
history_json, metrics for webstats).  docs/penctl.md lists them all.
"""
from __future__ import annotations

from typing import Sequence

from pen.core.balance.state import PenState
from pen.core.control import dataplane, ext, ha, peers, status
from pen.core.control.interpreter import (MAX_LINE, CommandError, CommandModule, Effects,
                                          Handler, Reply, Silent)
from pen.core.control.interpreter import Interpreter as _Interpreter

MODULES: tuple[CommandModule, ...] = (ext, dataplane, ha, status, peers)


class Interpreter(_Interpreter):
    """The interpreter with every command pen has."""

    def __init__(self, state: PenState, effects: Effects, running: bool = False,
                 version: str = "", modules: Sequence[CommandModule] = MODULES) -> None:
        super().__init__(state, effects, running, version, modules)


def _words() -> tuple[str, ...]:
    from pen.core.noeffects import NoEffects
    from pen.settings import Settings
    state = PenState(Settings())
    return tuple(Interpreter(state, NoEffects(state)).commands())


COMMAND_WORDS = _words()

__all__ = ["COMMAND_WORDS", "MAX_LINE", "MODULES", "CommandError", "CommandModule", "Effects",
           "Handler", "Interpreter", "Reply", "Silent"]
