"""mergelogs' decisions: pen's file log + the web servers' logs in, merged lines out
(mergelogs(1)).

Pure and streaming: lines come in as iterators and go out as a generator, so a multi-gigabyte
log set is merged in memory proportional to the jitter window, not to the logs.

C's algorithm is kept: a k-way merge of the web logs by time (oldest first, ties to the first
server given), and for each web line the pen entry for the same server and request whose time
is closest, searched in a sliding window of ``t - jitter .. t + jitter`` over pen's log.
Differences, on purpose (docs/mergelogs.md "Differences from C"):

* times are read with their offset applied exactly and written back as they were (C: one
  hour off when tm_isdst is garbage, re-rendered in local time labelled +0000);
* a pen entry is used once, so concurrent identical requests get their own clients;
* with pen's connection extension and the web line's ``rport=``, the match is by connection;
* a web line with no pen entry keeps its own client field (C writes the server's label);
* a line that cannot be parsed is written unchanged and counted (C drops it);
* requests are compared over their first 100 characters (pen logs no more; C never matches);
* an entry more than `jitter` seconds from the web line is never used (C may use the first
  entry past the window, and under -c any entry at all).
"""
from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from pen.core.formats.accesslog import MAX_REQUEST, PenEntry, parse_file_line
from pen.core.formats.weblog import WebLine, parse_web_line, render


@dataclass(slots=True)
class Options:
    jitter: int = 600      # -j
    tz: int = 0            # -t: seconds subtracted from pen's times
    cache: bool = True     # -c turns it off: rescan the whole pen log for every line


@dataclass(slots=True)
class Stats:
    web_lines: int = 0
    matched_conn: int = 0
    matched_request: int = 0
    unmatched: int = 0
    unparsed: int = 0
    bogus_pen: int = 0


@dataclass(slots=True)
class _Cand:
    t: int
    entry: PenEntry
    req: str
    used: bool = False


def _fits_port(c: _Cand, w: WebLine) -> bool:
    s = c.entry.server_port
    return not (w.sport is not None and s and s != w.sport)


def _nearest(cands: Iterable[_Cand], t: int, want: Callable[[_Cand], bool],
             jitter: int) -> _Cand | None:
    """The unused candidate closest in time to `t`, at most `jitter` away, the first of
    equals (C's strict `<`).

    Candidates come in pen-log order, which is time order, so the scan stops once they only
    get further away.
    """
    best, best_d = None, None
    for c in cands:
        if c.used or not want(c):
            continue
        d = abs(t - c.t)
        if d > jitter:
            if c.t > t:
                break
            continue
        if best_d is None or d < best_d:
            best, best_d = c, d
        elif c.t > t:
            break
    return best


@dataclass(slots=True)
class PenWindow:
    """pen entries between t - jitter and the first one past t + jitter, indexed for lookups."""

    lines: Iterator[str]
    opts: Options
    stats: Stats
    labels: set[str]
    _all: deque[_Cand] = field(default_factory=deque)
    _by_req: dict[tuple[str, str], deque[_Cand]] = field(default_factory=dict)
    _by_conn: dict[tuple[str, int], deque[_Cand]] = field(default_factory=dict)
    _eof: bool = False

    def _keys(self, c: _Cand) -> list[tuple[dict, tuple]]:
        keys: list[tuple[dict, tuple]] = [(self._by_req, (c.entry.server, c.req))]
        if c.entry.local_port:
            keys.append((self._by_conn, (c.entry.server, c.entry.local_port)))
        return keys

    def advance(self, t: int) -> None:
        """Slide the window to a web line at time t (C's best_client1 cache rules)."""
        while self._all and self._all[0].t < t - self.opts.jitter:
            old = self._all.popleft()
            for index, key in self._keys(old):
                q = index.get(key)
                if q and q[0] is old:   # the oldest in the window is first in its queue
                    q.popleft()
                if q is not None and not q:
                    del index[key]
        while not self._eof and (not self._all or self._all[-1].t <= t + self.opts.jitter):
            line = next(self.lines, None)
            if line is None:
                self._eof = True
                break
            e = parse_file_line(line)
            if e is None:
                self.stats.bogus_pen += 1
                continue
            c = _Cand(e.epoch - self.opts.tz, e, e.request[:MAX_REQUEST])
            self._all.append(c)
            if e.server in self.labels:     # others can never match: index only these
                for index, key in self._keys(c):
                    index.setdefault(key, deque()).append(c)
            else:
                c.used = True

    @staticmethod
    def _queue(index: dict, key: tuple) -> deque[_Cand]:
        """The queue for `key`, used entries at its head dropped (keeps lookups short)."""
        q = index.get(key)
        if q is None:
            return deque()
        while q and q[0].used:
            q.popleft()
        if not q:
            del index[key]
        return q

    def find(self, label: str, w: WebLine) -> _Cand | None:
        req = w.request[:MAX_REQUEST]
        if w.rport is not None:
            q = self._queue(self._by_conn, (label, w.rport))
            j = self.opts.jitter
            c = (_nearest(q, w.epoch, lambda c: _fits_port(c, w) and c.req == req, j)
                 or _nearest(q, w.epoch, lambda c: _fits_port(c, w), j))
            if c is not None:
                return c
        return _nearest(self._queue(self._by_req, (label, req)), w.epoch,
                        lambda c: w.rport is None or not c.entry.local_port, self.opts.jitter)


@dataclass(slots=True)
class PenRescan:
    """`-c`: no window, the whole pen log searched for every line (slow, as in C)."""

    reopen: Callable[[], Iterable[str]]
    opts: Options
    used: set[int] = field(default_factory=set)

    def find(self, label: str, w: WebLine) -> _Cand | None:
        req = w.request[:MAX_REQUEST]
        best: tuple[int, int, _Cand] | None = None
        for n, line in enumerate(self.reopen()):
            e = parse_file_line(line)
            if e is None or n in self.used or e.server != label:
                continue
            conn = w.rport is not None and e.local_port
            if conn and (e.local_port != w.rport or not _fits_port(_Cand(0, e, ""), w)):
                continue
            if not conn and (e.request[:MAX_REQUEST] != req
                             or (w.rport is not None and e.local_port)):
                continue
            d = abs(w.epoch - (e.epoch - self.opts.tz))
            if d <= self.opts.jitter and (best is None or d < best[0]):
                best = (d, n, _Cand(e.epoch - self.opts.tz, e, e.request))
        if best is None:
            return None
        self.used.add(best[1])
        return best[2]


def merge(pen_lines: Callable[[], Iterable[str]], servers: Sequence[tuple[str, Iterable[str]]],
          opts: Options, stats: Stats | None = None) -> Iterator[str]:
    """Merged lines (with '\\n'), oldest web line first.

    `pen_lines` opens pen's log (called again for every line under -c); `servers` is
    [(label, lines)] in command-line order; `stats` is filled in as the merge goes.
    """
    st = stats if stats is not None else Stats()
    window = PenWindow(iter(pen_lines()), opts, st, {label for label, _ in servers})
    rescan = None if opts.cache else PenRescan(pen_lines, opts)
    iters = [iter(lines) for _, lines in servers]
    heap: list[tuple[int, int, WebLine]] = []

    def advance(i: int) -> Iterator[str]:
        for line in iters[i]:
            w = parse_web_line(line)
            if w is None:
                if line.strip():
                    st.unparsed += 1
                    yield line if line.endswith("\n") else line + "\n"
                continue
            heapq.heappush(heap, (w.epoch, i, w))
            return

    for i in range(len(servers)):
        yield from advance(i)
    while heap:
        t, i, w = heapq.heappop(heap)
        label = servers[i][0]
        st.web_lines += 1
        if rescan is not None:
            c = rescan.find(label, w)
        else:
            window.advance(t)
            c = window.find(label, w)
        if c is None:
            st.unmatched += 1
            yield render(w) + "\n"
        else:
            c.used = True
            if w.rport is not None and c.entry.local_port:
                st.matched_conn += 1
            else:
                st.matched_request += 1
            yield render(w, c.entry.client) + "\n"
        yield from advance(i)
