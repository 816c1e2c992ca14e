"""penlogd's decisions: pen entries and web lines in, merged log lines out (penlogd(1)).

Pure: no sockets, no clock (`now` is passed in).  Differences from C penlogd, on purpose:

* a web line carrying the connection trailer (``rport=``, optionally ``sport=``) is matched to
  pen's entry for *that connection* (same server, pen's source port == rport);
* otherwise, on the request text, and a matched entry is *consumed*, oldest first, so two
  clients asking for the same URL are not both given to the newer one;
* the request is compared over its first 100 characters (C compares a prefix of the web
  request, and never matches requests of 100 characters or more);
* an unmatched line may wait `hold` seconds for a late pen entry (UDP may reorder);
* the client field (after an optional vhost) is replaced, not the first word;
* a line that cannot be parsed is written unchanged and counted, never dropped.
"""
from __future__ import annotations

import functools
import ipaddress
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from pen.core.formats.accesslog import MAX_REQUEST, PenEntry
from pen.core.formats.weblog import WebLine, parse_web_line, render, strip_syslog


@functools.lru_cache(maxsize=4096)
def norm_addr(text: str) -> str:
    """Canonical text of an address, IPv4-mapped IPv6 as IPv4; other text unchanged (cached:
    there are few servers)."""
    try:
        a = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return text
    if isinstance(a, ipaddress.IPv6Address) and a.ipv4_mapped is not None:
        return str(a.ipv4_mapped)
    return str(a)


@dataclass(slots=True)
class _Slot:
    seq: int
    entry: PenEntry
    server: str
    req: str


@dataclass(slots=True)
class _Pending:
    line: WebLine
    server: str
    deadline: float
    done: bool = False


@dataclass(slots=True)
class Counters:
    """What happened, for the debug log and the tests."""

    pen_entries: int = 0
    web_lines: int = 0
    matched_conn: int = 0
    matched_request: int = 0
    unmatched: int = 0
    unparsed: int = 0
    evicted: int = 0
    bogus_pen: int = 0          # pen datagrams that could not be parsed: skipped
    failed: int = 0             # datagrams whose handling raised: skipped (a bug, logged)


@dataclass(slots=True)
class Matcher:
    """The ring of recent pen entries (`-n`, default 1000) and the lines waiting for one."""

    capacity: int = 1000
    hold: float = 0.0
    counters: Counters = field(default_factory=Counters)
    _seq: int = 0
    _slots: OrderedDict[int, _Slot] = field(default_factory=OrderedDict)
    _by_conn: dict[tuple[str, int], deque[_Slot]] = field(default_factory=dict)
    _by_req: dict[tuple[str, str], deque[_Slot]] = field(default_factory=dict)
    _pending: deque[_Pending] = field(default_factory=deque)

    # -- pen entries ------------------------------------------------------------------------
    def add_pen(self, e: PenEntry, now: float) -> list[str]:
        """Store pen's entry; returns any waiting web line it completes."""
        self.counters.pen_entries += 1
        server = norm_addr(e.server)
        req = e.request[:MAX_REQUEST]
        for p in self._pending:
            if not p.done and p.server == server and self._fits(e, req, p.line):
                p.done = True
                return [self._emit(p.line, e)]
        self._seq += 1
        slot = _Slot(self._seq, e, server, req)
        self._slots[slot.seq] = slot
        if e.local_port:
            self._by_conn.setdefault((server, e.local_port), deque()).append(slot)
        self._by_req.setdefault((server, req), deque()).append(slot)
        while len(self._slots) > self.capacity:
            _, old = self._slots.popitem(last=False)
            self._unindex(old)
            self.counters.evicted += 1
        return []

    @staticmethod
    def _fits(e: PenEntry, req: str, w: WebLine) -> bool:
        """Could pen's entry `e` be the request the web server logged as `w`?"""
        if w.rport is not None and e.local_port:
            if e.local_port != w.rport:
                return False
            return not (w.sport is not None and e.server_port and e.server_port != w.sport)
        return req == w.request[:MAX_REQUEST]

    def _unindex(self, slot: _Slot) -> None:
        keys: list[tuple[dict, tuple]] = [(self._by_req, (slot.server, slot.req))]
        if slot.entry.local_port:
            keys.append((self._by_conn, (slot.server, slot.entry.local_port)))
        for index, key in keys:
            q = index[key]
            if q[0] is slot:
                q.popleft()
            else:
                q.remove(slot)
            if not q:
                del index[key]

    # -- web lines --------------------------------------------------------------------------
    def add_web(self, raw: str, sender: str, now: float) -> list[str]:
        """One line from a web server (the datagram's source address is its identity)."""
        raw = strip_syslog(raw.rstrip("\r\n"))
        if not raw.strip():
            return []
        self.counters.web_lines += 1
        w = parse_web_line(raw)
        if w is None:
            self.counters.unparsed += 1
            return [raw]
        server = norm_addr(sender)
        slot = self._find(server, w)
        if slot is not None:
            del self._slots[slot.seq]
            self._unindex(slot)
            return [self._emit(w, slot.entry)]
        if self.hold > 0:
            self._pending.append(_Pending(w, server, now + self.hold))
            return []
        self.counters.unmatched += 1
        return [render(w)]

    def _find(self, server: str, w: WebLine) -> _Slot | None:
        if w.rport is not None:
            q = self._by_conn.get((server, w.rport))
            if q:
                fits = [s for s in q if w.sport is None or not s.entry.server_port
                        or s.entry.server_port == w.sport]
                same = [s for s in fits if s.req == w.request[:MAX_REQUEST]]
                if same or fits:
                    return (same or fits)[0]
        q2 = self._by_req.get((server, w.request[:MAX_REQUEST]))
        if q2:
            for s in q2:
                if w.rport is None or not s.entry.local_port:
                    return s
        return None

    def _emit(self, w: WebLine, e: PenEntry) -> str:
        if w.rport is not None and e.local_port:
            self.counters.matched_conn += 1
        else:
            self.counters.matched_request += 1
        return render(w, e.client)

    # -- time -------------------------------------------------------------------------------
    def next_deadline(self) -> float | None:
        """When `expire` next has something to do (None: nothing is waiting)."""
        while self._pending and self._pending[0].done:
            self._pending.popleft()
        return self._pending[0].deadline if self._pending else None

    def expire(self, now: float) -> list[str]:
        """Lines whose wait is over, unchanged but for the trailer (C writes them unchanged)."""
        out: list[str] = []
        while self._pending and (self._pending[0].done or self._pending[0].deadline <= now):
            p = self._pending.popleft()
            if not p.done:
                self.counters.unmatched += 1
                out.append(render(p.line))
        return out

    def drain(self) -> list[str]:
        """Everything still waiting (at TERM): nothing is lost."""
        return self.expire(float("inf"))
