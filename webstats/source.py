"""Where webstats gets its data: pen's control port, one command per connection
(docs/penctl.md "The control port").

pen-ha answers `snapshot_json` and `history_json` (pen.core.livestatus).  C pen 0.34.1 knows
neither; against it webstats falls back to what C pen does answer (`servers`, `recent`,
`mode`, `clients_max`, `conn_max`), parsed as penctl --json parses them, and shows no history.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from penctl.cli import PenctlError, request
from penctl.replies import parse_mode, parse_recent, parse_servers

DEFAULT_TIMEOUT = 5.0


class SourceError(Exception):
    """pen could not be asked (unreachable, or a reply that makes no sense)."""


@dataclass(slots=True)
class Live:
    status: dict
    history: dict | None        # None: pen keeps none (C pen) or it could not be read
    pen_ha: bool                # False when the C pen fallback was used


def ask(control: str, line: str, timeout: float = DEFAULT_TIMEOUT) -> str:
    try:
        return request(control, line, timeout).decode("utf-8", "replace")
    except PenctlError as e:
        raise SourceError(f"pen control port {control}: {e}") from None


def fetch(control: str, timeout: float = DEFAULT_TIMEOUT, with_history: bool = True) -> Live:
    reply = ask(control, "snapshot_json", timeout)
    try:
        status = json.loads(reply)
    except ValueError:
        status = None
    if not isinstance(status, dict) or not isinstance(status.get("servers"), list):
        return Live(c_pen_status(control, timeout), None, False)
    history = None
    if with_history:
        try:
            data = json.loads(ask(control, "history_json", timeout))
            history = data if isinstance(data, dict) and "servers" in data else None
        except (ValueError, SourceError):
            history = None
    return Live(status, history, True)


def c_pen_status(control: str, timeout: float) -> dict:
    """The status from C pen 0.34.1's own replies (no states beyond what `servers` says)."""
    servers = parse_servers(ask(control, "servers", timeout))
    if not servers:
        raise SourceError(f"pen control port {control}: no usable reply to snapshot_json "
                          "or servers")
    for s in servers:
        s.setdefault("sx", 0)
        s.setdefault("rx", 0)
    clients = [dict(c, index=i) for i, c in enumerate(parse_recent(ask(control, "recent",
                                                                      timeout)))]
    mode = ask(control, "mode", timeout).strip()

    def number(word: str) -> int | None:
        text = ask(control, word, timeout).strip()
        return int(text) if text.isdigit() else None

    flags = parse_mode(mode)
    return {"servers": servers, "clients": clients, "clients_used": len(clients),
            "clients_max": number("clients_max"), "conn_max": number("conn_max"),
            "mode": mode, "modes": [k for k, on in flags.items() if on],
            "settings": {"blacklist": number("blacklist"), "timeout": number("timeout"),
                         "tracking": number("tracking")},
            "engine": {}, "version": "C pen"}
