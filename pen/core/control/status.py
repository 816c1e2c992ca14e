"""penctl commands for webstats and monitoring (issue 5): the live status, the load history,
the Prometheus metrics (docs/webstats.md "Where the data comes from").
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Callable

from pen.core import history
from pen.core.balance.servers import Server
from pen.core.balance.state import PenState
from pen.core.formats import metrics
from pen.core.livestatus import status_data

if TYPE_CHECKING:
    from pen.core.control.interpreter import Interpreter

FLAGS: tuple[str, ...] = ()


def commands(interp: Interpreter, error: type[Exception]) -> dict[str, Callable[[list[str]], str]]:
    """The status commands:

      snapshot_json    the live status (status_data) as one line of JSON
      history          the recent samples, compact text (pen.core.history.text)
      history_json     the recent samples as one line of JSON (History.to_dict)
      metrics          Prometheus text exposition (pen.core.formats.metrics)
    """
    fx = interp.fx

    def status() -> dict:
        return status_data(interp.state, fx.snapshot(), fx.now(), fx.listen_text(),
                           interp.version)

    def recent() -> dict:
        data = fx.snapshot().get("history")
        if data is None:
            raise error("history is not kept by this pen (no sampler attached)")
        return data

    return {
        "snapshot_json": lambda words: _json(status()),
        "metrics": lambda words: metrics.render(status()),
        "history": lambda words: history.text(recent()),
        "history_json": lambda words: _json(recent()),
    }


def _json(data: dict) -> str:
    return json.dumps(data, separators=(",", ":")) + "\n"


def render(state: PenState) -> list[str]:
    return []                          # nothing to write back: these only read


def render_server(srv: Server) -> list[str]:
    return []
