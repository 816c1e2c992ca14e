"""mergelogs' merge (docs/mergelogs.md), with C's time bug and misattribution fixed."""
from __future__ import annotations

import calendar
import time

from mergelogs.merge import Options, Stats, merge

T0 = calendar.timegm((2026, 11, 22, 2, 43, 27))


def ts(t: int, off: str = "+0000") -> str:
    return time.strftime("%d/%b/%Y:%H:%M:%S ", time.gmtime(t)) + off


def wl(t: int, req: str = "GET / HTTP/1.1", host: str = "127.0.0.1", tail: str = "",
       off: str = "+0000") -> str:
    return f'{host} - - [{ts(t, off)}] "{req}" 200 16{tail}\n'


def run(pen: list[str], servers: list[tuple[str, list[str]]], **kw: object) -> tuple[list[str], Stats]:
    st = Stats()
    out = list(merge(lambda: iter(pen), servers, Options(**kw), st))  # type: ignore[arg-type]
    return out, st


def test_spec_capture_without_the_hour_bug() -> None:
    pen = [f"127.0.0.2 {T0} 127.0.0.1 GET / HTTP/1.1\n",
           f"127.0.0.3 {T0 + 1} 127.0.0.1 GET / HTTP/1.1\n",
           f"127.0.0.4 {T0 + 2} 127.0.0.1 GET / HTTP/1.1\n",
           f"127.0.0.1 {T0 + 3} 127.0.0.1 POST /upload HTTP/1.1\n"]
    web = [wl(T0), wl(T0 + 1), wl(T0 + 2), wl(T0 + 3, "POST /upload HTTP/1.1")]
    out, st = run(pen, [("127.0.0.1", web)])
    assert [o.split()[0] for o in out] == ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.1"]
    assert [o[o.index(" "):] for o in out] == [w[w.index(" "):] for w in web]
    assert st.matched_request == 4 and st.unmatched == 0


def test_k_way_merge_by_time_ties_to_first_server() -> None:
    a = [wl(T0, "GET /a1"), wl(T0 + 2, "GET /a2")]
    b = [wl(T0, "GET /b1"), wl(T0 + 1, "GET /b2"), wl(T0 + 3, "GET /b3")]
    out, _ = run([], [("10.0.0.1", a), ("10.0.0.2", b)])
    assert [o.split('"')[1] for o in out] == ["GET /a1", "GET /b1", "GET /b2", "GET /a2", "GET /b3"]


def test_offsets_order_correctly_and_are_kept_verbatim() -> None:
    a = [wl(T0 + 3600, "GET /later", off="+0100")]          # = T0 + 0 UTC... printed +1h
    b = [wl(T0 - 1, "GET /earlier")]
    out, _ = run([], [("s1", a), ("s2", b)])
    assert [o.split('"')[1] for o in out] == ["GET /earlier", "GET /later"]
    assert out[1] == a[0]


def test_concurrent_identical_requests_get_distinct_clients() -> None:
    pen = [f"127.0.0.{i} {T0} 127.0.0.1 GET / HTTP/1.1\n" for i in range(2, 7)]
    out, _ = run(pen, [("127.0.0.1", [wl(T0)] * 5)])
    assert [o.split()[0] for o in out] == [f"127.0.0.{i}" for i in range(2, 7)]


def test_nearest_time_wins_and_unmatched_keeps_its_client() -> None:
    pen = [f"127.0.0.2 {T0 - 100} s GET /x\n", f"127.0.0.3 {T0 + 5} s GET /x\n",
           f"127.0.0.4 {T0 + 2000} s GET /x\n"]
    out, st = run(pen, [("s", [wl(T0, "GET /x"), wl(T0, "GET /x"), wl(T0, "GET /x")])])
    assert [o.split()[0] for o in out] == ["127.0.0.3", "127.0.0.2", "127.0.0.1"]
    assert st.unmatched == 1


def test_jitter_window_and_tz() -> None:
    pen = [f"127.0.0.2 {T0 + 3600 - 30} s GET /x\n"]
    out, _ = run(pen, [("s", [wl(T0, "GET /x")])], jitter=60)
    assert out[0].startswith("127.0.0.1 ")                # pen's clock is an hour ahead
    out, _ = run(pen, [("s", [wl(T0, "GET /x")])], jitter=60, tz=3600)
    assert out[0].startswith("127.0.0.2 ")


def test_match_by_connection_with_extended_pen_log() -> None:
    pen = [f"127.0.0.{i} {T0} 127.0.0.1 GET / HTTP/1.1\tconn cport=1 sport=80 lport={1000 + i}\n"
           for i in range(2, 6)]
    web = [wl(T0, tail=f" rport={1000 + i} sport=80") for i in (5, 3, 2, 4)]
    out, st = run(pen, [("127.0.0.1", web)])
    assert [o.split()[0] for o in out] == ["127.0.0.5", "127.0.0.3", "127.0.0.2", "127.0.0.4"]
    assert st.matched_conn == 4 and all("rport" not in o for o in out)


def test_unparseable_lines_pass_through_in_place() -> None:
    web = ["junk 1\n", wl(T0, "GET /a"), "junk 2\n", wl(T0 + 1, "GET /b"), "\n"]
    out, st = run([], [("s", web)])
    assert out == ["junk 1\n", wl(T0, "GET /a"), "junk 2\n", wl(T0 + 1, "GET /b")]
    assert st.unparsed == 2


def test_bogus_pen_lines_are_counted() -> None:
    pen = ["garbage\n", f"127.0.0.2 {T0} s GET /x\n"]
    out, st = run(pen, [("s", [wl(T0, "GET /x")])])
    assert out[0].startswith("127.0.0.2 ") and st.bogus_pen == 1


def test_no_cache_mode_gives_the_same_answer() -> None:
    pen = [f"127.0.0.{i} {T0 + i} 127.0.0.1 GET / HTTP/1.1\n" for i in range(2, 7)]
    web = [wl(T0 + i) for i in range(2, 7)]
    assert run(pen, [("127.0.0.1", web)], cache=False)[0] == run(pen, [("127.0.0.1", web)])[0]


def test_window_memory_is_bounded() -> None:
    """A long log streams: the window never holds more than ~2*jitter seconds of entries."""
    from mergelogs.merge import PenWindow
    n = 20000
    pen = (f"127.0.0.2 {T0 + i} s GET /{i}\n" for i in range(n))
    win = PenWindow(pen, Options(jitter=10), Stats(), {"s"})
    peak = 0
    for i in range(0, n, 7):
        win.advance(T0 + i)
        peak = max(peak, len(win._all), sum(len(q) for q in win._by_req.values()))
    assert peak <= 22
