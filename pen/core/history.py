"""Recent history of every server's load: a bounded ring of samples (pen-ha, docs/webstats.md).

C pen kept no history; its status page (pen(1) -w) is one instant.  An operator
wants "what happened in the last minutes", and webstats may run as CGI (one process per
request), so pen itself keeps the samples: every `interval` seconds the engine (history_glue)
feeds `sample()` one `Point` per server.  Each server keeps at most `capacity` points (the
default 180 x 5 s is 15 minutes), so memory is bounded by servers x capacity whatever runs.

Pure: time comes in as `now` (epoch seconds), nothing here reads a clock.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Iterable, Sequence

DEFAULT_INTERVAL = 5.0
DEFAULT_CAPACITY = 180


@dataclass(slots=True, frozen=True)
class Point:
    """One server at one instant: active connections and its cumulative counters."""

    t: float            # epoch seconds
    conn: int           # established connections
    pending: int        # connects in progress
    sx: int             # bytes from clients to the server (cumulative, as `servers`' sx)
    rx: int             # bytes from the server (cumulative)
    total: int          # connections ever established
    failures: int       # connect failures (cumulative)


@dataclass(slots=True)
class Series:
    """The points of one server; forgotten when the slot gets a new address."""

    address: str
    points: deque[Point]


@dataclass(slots=True)
class History:
    interval: float = DEFAULT_INTERVAL
    capacity: int = DEFAULT_CAPACITY
    series: dict[int, Series] = field(default_factory=dict)

    def sample(self, now: float, servers: Iterable[tuple[int, str, int, int, int, int, int, int]]
               ) -> None:
        """Record one point per server: (index, address, conn, pending, sx, rx, total,
        failures).  Servers no longer reported are dropped, so their memory goes with them."""
        seen = set()
        for index, address, conn, pending, sx, rx, total, failures in servers:
            seen.add(index)
            s = self.series.get(index)
            if s is None or s.address != address:
                s = self.series[index] = Series(address, deque(maxlen=self.capacity))
            s.points.append(Point(now, conn, pending, sx, rx, total, failures))
        for index in [i for i in self.series if i not in seen]:
            del self.series[index]

    def to_dict(self) -> dict:
        """JSON-ready: {"interval", "capacity", "servers": {"N": {"address", "t": [...],
        "conn": [...], "pending", "sx", "rx", "total", "failures"}}}; columns, not rows,
        so a 15-minute reply stays small."""
        servers = {}
        for index, s in sorted(self.series.items()):
            pts = s.points
            servers[str(index)] = {
                "address": s.address,
                "t": [round(p.t, 3) for p in pts],
                "conn": [p.conn for p in pts], "pending": [p.pending for p in pts],
                "sx": [p.sx for p in pts], "rx": [p.rx for p in pts],
                "total": [p.total for p in pts], "failures": [p.failures for p in pts],
            }
        return {"interval": self.interval, "capacity": self.capacity, "servers": servers}


def rates(times: Sequence[float], counter: Sequence[float]) -> list[float]:
    """Per-second rate between consecutive samples (len-1 values).  A counter that went
    backwards (a slot reset) counts as 0, never negative; a zero interval as 0."""
    out = []
    for i in range(1, min(len(times), len(counter))):
        dt = times[i] - times[i - 1]
        delta = counter[i] - counter[i - 1]
        out.append(delta / dt if dt > 0 and delta > 0 else 0.0)
    return out


def text(data: dict) -> str:
    """The `history` reply: a header, then per server its connections and byte rates
    (bytes/s, client->server `in`, server->client `out`), oldest first, comma-separated."""
    lines = [f"interval {_num(data['interval'])} capacity {data['capacity']}"]
    for index, s in data["servers"].items():
        t = s["t"]
        span = int(t[-1] - t[0]) if t else 0
        lines.append(
            f"{index} addr {s['address']} samples {len(t)} span {span} "
            f"conn {_join(s['conn'])} in {_join(rates(t, s['sx']))} "
            f"out {_join(rates(t, s['rx']))}")
    return "\n".join(lines) + "\n"


def _join(values: list) -> str:
    return ",".join(_num(v) for v in values) or "-"


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:.1f}"
