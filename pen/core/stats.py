"""Statistics: one snapshot of the tables, rendered as C pen renders it (docs/configuration.md
"Statistics").

`snapshot()` turns the state into a plain dict (JSON-ready; penctl --json, webstats and metrics
build on it).  `html()` is the -w / `status` page (pen(1) -w) in C pen's layout (the slot numbers
it shows are the engine's, docs/compatibility.md);
`text()` is the SIGUSR1 report (docs/configuration.md "Statistics") without C's garbage in the
client entries;
`parse_html()` reads a status page (ours or C pen's) back into the snapshot's shape.
"""
from __future__ import annotations

import math
import re
import time
from dataclasses import asdict, dataclass
from typing import Iterable, Protocol

from pen.core.balance.servers import Server
from pen.core.balance.state import PenState
from pen.core.numbers import ascii_integer


@dataclass(slots=True)
class ConnView:
    """One connection slot as `connection N` and the status page show it."""

    index: int
    state: int          # 0 unused, 1 connecting, 2 connected (C pen's numbering)
    downfd: int
    upfd: int
    client: int         # client slot
    server: int
    pending_down: int = 0
    pending_up: int = 0
    pend: int = 0       # 1 while the upstream connect is in progress


def server_line(sv: Server) -> str:
    """One line of `servers` (penctl(1) COMMANDS); scripts parse it by field position."""
    return (f"{sv.index} addr {sv.address_text()} port {sv.port} conn {sv.c} max {sv.maxc} "
            f"hard {sv.hard} weight {sv.weight} prio {sv.prio} sx {sv.sx} rx {sv.rx}\n")


def connection_text(n: int, view: ConnView | None) -> str:
    """`connection N` (penctl(1) COMMANDS); an unused slot prints as C pen prints a fresh one."""
    if view is None:
        view = ConnView(n, 0, -1, -1, 0, 0)
    return (f"Connection {n}:\nstate = {view.state}\ndownfd = {view.downfd}, upfd = {view.upfd}\n"
            f"client = {view.client}, server = {view.server}\npend = {view.pend}\n")


def _epoch(mono: float, offset: float) -> int:
    return 0 if not math.isfinite(mono) else int(mono + offset)


def snapshot(state: PenState, conns: Iterable[ConnView], now: float, wall_offset: float,
             conn_used: int, conn_last: int | None = None) -> dict:
    """Everything the status page shows, as plain data.  `now` is monotonic; `wall_offset`
    turns monotonic times into epoch seconds; `conn_last` is the slot stored last
    (pen.core.balance.connslots.SlotTable.last, C's "N last"), else one past the highest slot in use."""
    s = state.settings
    servers = []
    for sv in state.servers.servers:
        servers.append({
            "index": sv.index, "address": sv.address_text(), "port": sv.port,
            "status": _epoch(sv.blacklisted_at, wall_offset), "conn": sv.c, "pending": sv.pending,
            "max": sv.maxc, "hard": sv.hard, "sx": sv.sx, "rx": sv.rx, "weight": sv.weight,
            "prio": sv.prio, "acl": sv.acl, "total": sv.total, "failures": sv.failures,
            "blacklisted": sv.blacklisted(now, s.blacklist),
            "blacklist_left": round(sv.blacklist_left(now, s.blacklist), 3),
        })
    clients = [{"index": c.slot, "address": c.address or "unix", "age": int(now - c.last),
                "last_server": c.server, "connects": c.connects, "sx": c.csx, "rx": c.crx}
               for c in state.clients.active() if c.last]
    connections = [asdict(v) for v in conns]
    return {
        "time": int(now + wall_offset), "current": state.current, "mode": s.mode_text(),
        "servers": servers, "clients_max": s.clients_max, "clients": clients,
        "conn_max": s.conn_max, "conn_used": conn_used,
        "conn_last": conn_last if conn_last is not None else
        max((c["index"] + 1 for c in connections), default=0),
        "connections": connections,
    }


def time_text(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def _table(header: list[str], rows: list[list[object]]) -> list[str]:
    out = ["<tr>"] + [f'<td bgcolor="#80f080">{h}</td>' for h in header] + ["</tr>"]
    for row in rows:
        out += ["<tr>"] + [f"<td>{_esc(v)}</td>" for v in row] + ["</tr>"]
    return out + ["</table>"]


def _esc(value: object) -> str:
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


SERVER_COLUMNS = ["server", "address", "status", "port", "connections", "max soft", "max hard",
                  "sent", "received", "weight", "prio"]
CLIENT_COLUMNS = ["client", "address", "age(secs)", "last server", "connects", "sent",
                  "received"]
CONN_COLUMNS = ["connection", "downfd", "upfd", "pending data down", "pending data up",
                "client", "server"]


def html(snap: dict) -> str:
    """The status page, in C pen 0.34.1's exact layout (pen(1) -w)."""
    out = ["<html>", "<head>", "<title>Pen status page</title>", "</head>",
           '<body bgcolor="#ffffff"><h1>Pen status page</h1>',
           f"Time {time_text(snap['time'])}, {len(snap['servers'])} servers, "
           f"{snap['current']} current<p>",
           '<table bgcolor="#c0c0c0">']
    out += _table(SERVER_COLUMNS, [[s["index"], s["address"], s["status"], s["port"], s["conn"],
                                    s["max"], s["hard"], s["sx"], s["rx"], s["weight"],
                                    s["prio"]] for s in snap["servers"]])
    out.append(f"<h2>Active clients</h2>Max number of clients: {snap['clients_max']}<p>"
               '<table bgcolor="#c0c0c0">')
    out += _table(CLIENT_COLUMNS, [[c["index"], c["address"], c["age"], c["last_server"],
                                    c["connects"], c["sx"], c["rx"]] for c in snap["clients"]])
    out.append(f"<h2>Active connections</h2>Number of connections: {snap['conn_max']} max, "
               f"{snap['conn_used']} used, {snap['conn_last']} last<p>"
               '<table bgcolor="#c0c0c0">')
    out += _table(CONN_COLUMNS, [[c["index"], c["downfd"], c["upfd"], c["pending_down"],
                                  c["pending_up"], c["client"], c["server"]]
                                 for c in snap["connections"]])
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"


def text(snap: dict) -> list[str]:
    """The SIGUSR1 report (docs/pen.md "Signals"), one log record per entry, with the client
    fields C pen
    garbled printed properly."""
    out = [f"Time {time_text(snap['time'])}, {len(snap['servers'])} servers, "
           f"{snap['current']} current"]
    for s in snap["servers"]:
        out.append(f"Server {s['index']} status:\naddress {s['address']}\n{s['status']}\n"
                   f"port {s['port']}\n{s['conn']} connections ({s['max']} soft, "
                   f"{s['hard']} hard)\n{s['sx']} sent, {s['rx']} received\n")
    out.append(f"Max number of clients: {snap['clients_max']}")
    out.append("Active clients:")
    for c in snap["clients"]:
        out.append(f"Client {c['index']} status:\naddress {c['address']}\n"
                   f"sent {c['sx']}, received {c['rx']}\nlast used {c['age']} s ago\n"
                   f"last server {c['last_server']}\n")
    out.append(f"Max number of connections: {snap['conn_max']}")
    out.append("Active connections:")
    for c in snap["connections"]:
        out.append(f"Connection {c['index']} status:\ndownfd = {c['downfd']}, "
                   f"upfd = {c['upfd']}\npending data {c['pending_down']} down, "
                   f"{c['pending_up']} up\nclient {c['client']}, server {c['server']}\n")
    return out


class _TableReader(Protocol):
    tables: list[list[list[str]]]
    text: list[str]

    def feed(self, data: str) -> None: ...


def _tables() -> _TableReader:
    """The status page's tables and text (html.parser is imported here: only penctl reads
    pages, and pen's start-up should not pay for it; issue 16)."""
    from html.parser import HTMLParser

    class _Tables(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.tables: list[list[list[str]]] = []
            self.text: list[str] = []
            self.cell: list[str] | None = None

        def handle_starttag(self, tag: str, attrs: list) -> None:
            if tag == "table":
                self.tables.append([])
            elif tag == "tr" and self.tables:
                self.tables[-1].append([])
            elif tag == "td":
                self.cell = []

        def handle_endtag(self, tag: str) -> None:
            if tag == "td" and self.cell is not None and self.tables and self.tables[-1]:
                self.tables[-1][-1].append("".join(self.cell).strip())
                self.cell = None

        def handle_data(self, data: str) -> None:
            (self.cell if self.cell is not None else self.text).append(data)

    return _Tables()


def number_or_text(text: str) -> int | str:
    """A reply or page field: its value if it is an ASCII integer, else the text itself."""
    value = ascii_integer(text)
    return text if value is None else value


def parse_html(page: str) -> dict:
    """A status page (ours or C pen's) back into the snapshot's keys, for penctl --json."""
    p = _tables()
    p.feed(page)
    keys = (["index", "address", "status", "port", "conn", "max", "hard", "sx", "rx", "weight",
             "prio"],
            ["index", "address", "age", "last_server", "connects", "sx", "rx"],
            ["index", "downfd", "upfd", "pending_down", "pending_up", "client", "server"])
    rows: list[list[dict]] = []
    for names, table in zip(keys, p.tables + [[], [], []]):
        rows.append([{k: (number_or_text(v) if k != "address" else v) for k, v in zip(names, row)}
                     for row in table[1:]])
    body = " ".join(p.text)
    result: dict = {"servers": rows[0], "clients": rows[1], "connections": rows[2]}
    for key, pattern in (("current", r"servers, (-?\d+) current"),
                         ("clients_max", r"Max number of clients: (\d+)"),
                         ("conn_max", r"Number of connections: (\d+) max"),
                         ("conn_used", r"max, (-?\d+) used"), ("conn_last", r"used, (-?\d+) last")):
        m = re.search(pattern, body, re.ASCII)
        if m:
            result[key] = int(m.group(1))
    m = re.search(r"Time (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", body, re.ASCII)
    if m:
        result["time"] = int(time.mktime(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")))
    return result
