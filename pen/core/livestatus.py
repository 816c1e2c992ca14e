"""The live status as one JSON-ready dict: what webstats renders and `snapshot_json` answers.

`stats.snapshot()` is C pen's status page as data (pen(1) -w).  Operators also
want what pen-ha adds (each server's state word as `server_state` prints it, drain, health),
the main settings, and the engine's facts (uptime, accepted/refused totals, the wait queue,
the process), which the engine puts under the snapshot's "engine" key.  Pure: `now` is the
interpreter's monotonic clock, and everything comes in as arguments.  The commands that
answer with it are pen.core.control.status's.
"""
from __future__ import annotations

from pen.core.balance.state import PenState

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
            entry["state"] = srv.state_word(now, s.blacklist)
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
        "peers": st.peers.status(now) if st.peers is not None else None,    # issue 17
    })
    data.setdefault("engine", {})
    return data
