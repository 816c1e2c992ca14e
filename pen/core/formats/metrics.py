"""pen's counters in the Prometheus text exposition format 0.0.4 (pen-ha, docs/webstats.md).

Rendered from `livestatus.status_data()`, so `penctl ADDR metrics` and webstats' /metrics say
the same thing.  Names follow Prometheus' conventions: `_total` only on counters, base units
(bytes, seconds), one `pen_info` with the facts as labels.  The per-server gauge of active
connections is `pen_server_connections` and the counter of connections ever established is
`pen_server_connections_established_total` (not `pen_server_connections_total`: in
OpenMetrics that counter's family name would collide with the gauge).

Label values are escaped as the format requires (backslash, double quote, newline), so a
hostile unix path cannot forge a sample.
"""
from __future__ import annotations

from pen import C_PEN_VERSION

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STATES = ("up", "full", "draining", "blacklisted", "down", "unused")


def label_value(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: dict[str, object]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{label_value(v)}"' for k, v in labels.items()) + "}"


def _value(v: float | int | bool) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    return repr(float(v))


class _Out:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str,
               samples: list[tuple[dict[str, object], float | int | bool]]) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            self.lines.append(f"{name}{_labels(labels)} {_value(value)}")

    def one(self, name: str, kind: str, help_text: str, value: float | int | bool | None) -> None:
        if value is not None:
            self.family(name, kind, help_text, [({}, value)])


def render(status: dict) -> str:
    """The exposition text for one status (livestatus.status_data)."""
    out = _Out()
    eng = status.get("engine", {})
    cfg = status.get("settings", {})
    out.family("pen_info", "gauge", "pen-ha version and main settings (value always 1).", [(
        {"version": status.get("version", ""), "c_version": C_PEN_VERSION,
         "listen": cfg.get("listen") or "", "mode": status.get("mode", ""),
         "modes": ",".join(status.get("modes", []))}, 1)])
    out.one("pen_start_time_seconds", "gauge", "When pen started (epoch seconds).",
            eng.get("started"))
    out.one("pen_uptime_seconds", "gauge", "Seconds since pen started.", eng.get("uptime"))
    if "listen" in eng:
        out.family("pen_listener_info", "gauge", "The listening address (value always 1).",
                   [({"address": eng.get("listen") or "", "protocol": eng.get("protocol", "")},
                     1)])
        out.one("pen_listener_accepting", "gauge",
                "1 while pen accepts new clients (0 when conn_max is reached).",
                bool(eng.get("accepting")))
    out.one("pen_connections", "gauge", "Connections in use.", status["conn_used"])
    out.one("pen_connections_max", "gauge", "Connection slots (conn_max).", status["conn_max"])
    out.one("pen_connections_accepted_total", "counter", "Clients accepted.",
            eng.get("connections_total"))
    out.one("pen_connections_refused_total", "counter",
            "Clients closed without a server (none available, queue full or timed out).",
            eng.get("refused_total"))
    out.one("pen_queue_length", "gauge", "Clients waiting for a server with room.",
            eng.get("queue_len"))
    out.one("pen_queue_max", "gauge", "Wait queue size (queue_max; 0 = no queue).",
            cfg.get("queue_max"))
    out.one("pen_connections_queued_total", "counter", "Clients that had to wait in the queue.",
            eng.get("queued_total"))
    out.one("pen_clients", "gauge", "Clients in the client table.", status["clients_used"])
    out.one("pen_clients_max", "gauge", "Client table size (clients_max).",
            status["clients_max"])
    out.one("pen_servers", "gauge", "Server slots.", len(status["servers"]))
    _servers(out, status["servers"])
    _peers(out, status.get("peers"))
    out.one("process_start_time_seconds", "gauge", "Start time of the process (epoch seconds).",
            eng.get("started"))
    out.one("process_cpu_seconds_total", "counter", "User and system CPU time spent.",
            eng.get("cpu_seconds"))
    out.one("process_open_fds", "gauge", "Open file descriptors.", eng.get("open_fds"))
    out.one("process_resident_memory_bytes", "gauge", "Resident memory size.",
            eng.get("rss_bytes"))
    return "\n".join(out.lines) + "\n"


SERVER_FAMILIES = (
    # name, type, help, how to get the value from a server entry
    ("pen_server_connections", "gauge", "Established connections.", lambda s: s["conn"]),
    ("pen_server_pending_connections", "gauge", "Connects in progress.",
     lambda s: s.get("pending", 0)),
    ("pen_server_connections_established_total", "counter", "Connections ever established.",
     lambda s: s.get("total", 0)),
    ("pen_server_bytes_sent_total", "counter",
     "Bytes from clients forwarded to the server (the sx of `servers`).", lambda s: s["sx"]),
    ("pen_server_bytes_received_total", "counter",
     "Bytes read from the server (the rx of `servers`).", lambda s: s["rx"]),
    ("pen_server_connect_failures_total", "counter", "Connect failures and timeouts.",
     lambda s: s.get("failures", 0)),
    ("pen_server_blacklisted", "gauge", "1 while the server is blacklisted.",
     lambda s: bool(s.get("blacklisted"))),
    ("pen_server_blacklist_remaining_seconds", "gauge", "Seconds of blacklisting left.",
     lambda s: float(s.get("blacklist_left", 0.0))),
    ("pen_server_up", "gauge",
     "1 when the server can take clients (configured, not blacklisted, not down).",
     lambda s: s.get("state", "up") in ("up", "full", "draining")),
    ("pen_server_draining", "gauge", "1 while the server is drained (no new clients).",
     lambda s: bool(s.get("drain"))),
    ("pen_server_max_connections", "gauge", "Soft limit (max; 0 = none).", lambda s: s["max"]),
    ("pen_server_hard_limit", "gauge", "Hard limit (hard; 0 = none).", lambda s: s["hard"]),
    ("pen_server_weight", "gauge", "Weight.", lambda s: s["weight"]),
    ("pen_server_priority", "gauge", "Priority (lower is preferred).", lambda s: s["prio"]),
)


def _servers(out: _Out, servers: list[dict]) -> None:
    def key(s: dict) -> dict[str, object]:
        return {"server": s["index"], "address": s["address"], "port": s["port"]}

    for name, kind, help_text, get in SERVER_FAMILIES:
        out.family(name, kind, help_text, [(key(s), get(s)) for s in servers])
    out.family("pen_server_state", "gauge", "1 for the server's current state, 0 for the others.",
               [({**key(s), "state": state}, s.get("state") == state)
                for s in servers for state in STATES])


PEER_FAMILIES = (
    # issue 17 (docs/peers.md): one sample per peer row of `peers`
    ("pen_peer_connected", "gauge", "1 while this node's connection to the peer is up.",
     lambda p: bool(p["connected"])),
    ("pen_peer_incoming", "gauge", "1 while the peer's connection to this node is up.",
     lambda p: bool(p["incoming"])),
    ("pen_peer_entries_sent_total", "counter", "Client-table entries sent to the peer.",
     lambda p: p["sent"]),
    ("pen_peer_entries_received_total", "counter", "Client-table entries received.",
     lambda p: p["received"]),
    ("pen_peer_entries_taken_total", "counter",
     "Received entries newer than this node's and taken.", lambda p: p["taken"]),
    ("pen_peer_bad_frames_total", "counter",
     "Frames dropped: malformed, failing authentication, or out of sequence.",
     lambda p: p["bad"]),
    ("pen_peer_config_drift", "gauge",
     "Differences between this node's configuration and the peer's (-1: not known yet).",
     lambda p: -1 if p["drift"] is None else len(p["drift"])),
)


def _peers(out: _Out, peers: dict | None) -> None:
    if not peers or not peers.get("running"):
        return
    rows = peers.get("peers", [])
    for name, kind, help_text, get in PEER_FAMILIES:
        out.family(name, kind, help_text, [({"peer": p["peer"]}, get(p)) for p in rows])
    ages = [({"peer": p["peer"]}, p["last_received_age"]) for p in rows
            if p["last_received_age"] is not None]
    out.family("pen_peer_last_received_age_seconds", "gauge",
               "Seconds since the last entries came from the peer.", ages)
