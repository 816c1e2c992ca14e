"""The live status as one JSON-ready dict: what webstats renders and `snapshot_json` answers.

`stats.snapshot()` is C pen's status page as data (spec/pen-0.34.md §6.2).  Operators also
want what pen-ha adds (each server's state word as `server_state` prints it, drain, health),
the main settings, and the engine's facts (uptime, accepted/refused totals, the wait queue,
the process), which the engine puts under the snapshot's "engine" key.  Pure: `now` is the
interpreter's monotonic clock, and everything comes in as arguments.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Callable

from pen.core import control_ext, history, metrics
from pen.core.state import PenState

if TYPE_CHECKING:
    from pen.core.control import Interpreter

SETTINGS = ("blacklist", "timeout", "tracking", "clients_max", "conn_max", "idle_timeout",
            "http", "udp", "hash_method", "leastconn", "queue_max", "queue_timeout",
            "send_proxy", "accept_proxy", "tcp_nodelay", "keepalive", "transparent", "dummy",
            "source", "emergency", "abuse", "logfile", "web_stats", "control", "config_file",
            "pidfile", "debug")
MODE = ("hash", "roundrobin", "stubborn", "weight", "prio", "leastconn")


def status_data(st: PenState, snap: dict, now: float, listen: str | None,
                version: str) -> dict:
    """The snapshot, enriched; `history` is left out (it has its own command)."""
    s = st.settings
    servers = []
    by_index = {srv.index: srv for srv in st.servers.servers}
    for entry in snap["servers"]:
        entry = dict(entry)
        srv = by_index.get(entry["index"])
        if srv is not None:
            entry["state"] = control_ext.state_word(st, srv, now)
            entry["drain"] = srv.drain
            entry["configured"] = srv.has_address()
            entry["effective_weight"] = srv.effective_weight()
            if srv.check is not None:
                entry["check"] = srv.check.kind
                entry["health"] = "up" if srv.health is None or srv.health.up else "down"
        servers.append(entry)
    settings = {name: getattr(s, name) for name in SETTINGS}
    settings["listen"] = listen
    settings["tls"] = bool(s.ssl_cert)
    data = {k: v for k, v in snap.items() if k not in ("servers", "history")}
    data.update({
        "version": version, "servers": servers, "settings": settings,
        "modes": [m for m in MODE if getattr(s, m)],
        "clients_used": len(snap["clients"]),
    })
    data.setdefault("engine", {})
    return data


def commands(interp: Interpreter, error: type[Exception]) -> dict[str, Callable[[list[str]], str]]:
    """pen-ha's status commands, registered by control_ext.register():

      snapshot_json    the live status (status_data) as one line of JSON
      history          the recent samples, compact text (pen.core.history.text)
      history_json     the recent samples as one line of JSON (History.to_dict)
      metrics          Prometheus text exposition (pen.core.metrics)
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
