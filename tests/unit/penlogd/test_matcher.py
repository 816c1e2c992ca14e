"""penlogd's matching (docs/penlogd.md "Matching", with C's misattribution fixed)."""
from __future__ import annotations

import pytest

from pen.core.formats.accesslog import PenEntry
from penlogd.matcher import Matcher, norm_addr

WEB = '127.0.0.1 - - [22/Nov/2026:10:00:0{n} +0000] "{req}" 200 5{tail}'


def pen(client: str, req: str = "GET /x HTTP/1.1", lport: int = 0, sport: int = 0,
        server: str = "127.0.0.1") -> PenEntry:
    return PenEntry(client, 0, server, sport, lport, 0, req)


def web(n: int = 0, req: str = "GET /x HTTP/1.1", tail: str = "") -> str:
    return WEB.format(n=n, req=req, tail=tail)


def test_spec_capture_consumes_oldest_first() -> None:
    """Injected datagrams (docs/penlogd.md "Differences from C"): C gives both /x lines to .3; we give one to each, oldest first."""
    m = Matcher()
    assert m.add_pen(pen("127.0.0.2"), 0) == []
    assert m.add_pen(pen("127.0.0.3"), 0) == []
    out = m.add_web(web(0), "127.0.0.1", 0) + m.add_web(web(1), "127.0.0.1", 0)
    out += m.add_web(web(2, "GET /never-seen-by-pen HTTP/1.1"), "127.0.0.1", 0)
    out += m.add_web("garbage line without quotes", "127.0.0.1", 0)
    assert out == [web(0).replace("127.0.0.1", "127.0.0.2", 1),
                   web(1).replace("127.0.0.1", "127.0.0.3", 1),
                   web(2, "GET /never-seen-by-pen HTTP/1.1"),
                   "garbage line without quotes"]
    c = m.counters
    assert (c.matched_request, c.unmatched, c.unparsed, c.web_lines) == (2, 1, 1, 4)


def test_match_by_connection_beats_arrival_order() -> None:
    m = Matcher()
    m.add_pen(pen("127.0.0.2", lport=1002, sport=80), 0)
    m.add_pen(pen("127.0.0.3", lport=1003, sport=80), 0)
    m.add_pen(pen("127.0.0.4", lport=1004, sport=80), 0)
    # responses logged in another order than the requests came in
    out = m.add_web(web(0, tail=" rport=1004 sport=80"), "127.0.0.1", 0)
    out += m.add_web(web(0, tail=" rport=1002"), "127.0.0.1", 0)
    out += m.add_web(web(0, tail=" rport=1003 sport=80"), "127.0.0.1", 0)
    assert [o.split()[0] for o in out] == ["127.0.0.4", "127.0.0.2", "127.0.0.3"]
    assert all("rport" not in o for o in out)
    assert m.counters.matched_conn == 3


def test_connection_match_respects_server_port_and_address() -> None:
    m = Matcher()
    m.add_pen(pen("127.0.0.2", lport=1000, sport=8080), 0)
    m.add_pen(pen("127.0.0.3", lport=1000, sport=8081), 0)
    m.add_pen(pen("127.0.0.9", lport=1000, sport=8081, server="127.0.0.5"), 0)
    out = m.add_web(web(tail=" rport=1000 sport=8081"), "127.0.0.1", 0)
    out += m.add_web(web(tail=" rport=1000 sport=8081"), "127.0.0.5", 0)
    out += m.add_web(web(tail=" rport=1000 sport=8080"), "127.0.0.1", 0)
    assert [o.split()[0] for o in out] == ["127.0.0.3", "127.0.0.9", "127.0.0.2"]


def test_keep_alive_requests_on_one_connection() -> None:
    m = Matcher()
    m.add_pen(pen("127.0.0.2", "GET /a HTTP/1.1", lport=7), 0)
    m.add_pen(pen("127.0.0.2", "GET /b HTTP/1.1", lport=7), 0)
    out = m.add_web(web(req="GET /b HTTP/1.1", tail=" rport=7"), "127.0.0.1", 0)
    out += m.add_web(web(req="GET /a HTTP/1.1", tail=" rport=7"), "127.0.0.1", 0)
    assert [o.split()[0] for o in out] == ["127.0.0.2", "127.0.0.2"]
    assert m.counters.matched_conn == 2 and not m._slots


def test_port_line_never_takes_another_connections_entry() -> None:
    m = Matcher()
    m.add_pen(pen("127.0.0.2", lport=1), 0)
    out = m.add_web(web(tail=" rport=2"), "127.0.0.1", 0)
    assert out == [web()]          # unmatched, trailer removed
    # but C pen's entries (no ports) are matched on the request
    m.add_pen(pen("127.0.0.7"), 0)
    assert m.add_web(web(tail=" rport=2"), "127.0.0.1", 0)[0].startswith("127.0.0.7 ")


def test_sender_must_be_the_server() -> None:
    m = Matcher()
    m.add_pen(pen("127.0.0.2"), 0)
    assert m.add_web(web(), "127.0.0.9", 0) == [web()]
    assert m.add_web(web(), "::ffff:127.0.0.1", 0)[0].startswith("127.0.0.2 ")


def test_request_compared_over_100_chars_not_prefix() -> None:
    m = Matcher()
    long_req = "GET /" + "a" * 200 + " HTTP/1.1"
    m.add_pen(pen("127.0.0.2", long_req[:100]), 0)
    m.add_pen(pen("127.0.0.3", "GET /"), 0)
    assert m.add_web(web(req=long_req), "127.0.0.1", 0)[0].startswith("127.0.0.2 ")
    # C matches "GET /" to any request that starts with it; we do not
    assert m.add_web(web(req="GET /"), "127.0.0.1", 0)[0].startswith("127.0.0.3 ")


def test_ring_capacity_evicts_oldest() -> None:
    m = Matcher(capacity=2)
    for c in ("127.0.0.2", "127.0.0.3", "127.0.0.4"):
        m.add_pen(pen(c), 0)
    assert m.counters.evicted == 1
    out = [m.add_web(web(), "127.0.0.1", 0)[0].split()[0] for _ in range(3)]
    assert out == ["127.0.0.3", "127.0.0.4", "127.0.0.1"]


def test_hold_waits_for_a_late_pen_entry() -> None:
    m = Matcher(hold=1.0)
    assert m.add_web(web(tail=" rport=9"), "127.0.0.1", 10.0) == []
    assert m.add_web(web(1, "GET /y HTTP/1.1"), "127.0.0.1", 10.1) == []
    assert m.next_deadline() == 11.0
    assert m.add_pen(pen("127.0.0.2", lport=9), 10.2) == [web().replace("127.0.0.1", "127.0.0.2", 1)]
    assert m.expire(10.5) == []
    assert m.next_deadline() == 11.1
    assert m.expire(11.1) == [web(1, "GET /y HTTP/1.1")]
    assert m.next_deadline() is None
    assert m.add_web(web(2), "127.0.0.1", 12) == []
    assert m.drain() == [web(2)]
    assert (m.counters.matched_conn, m.counters.unmatched) == (1, 2)


def test_syslog_framed_lines_and_blank_lines() -> None:
    m = Matcher()
    m.add_pen(pen("127.0.0.2"), 0)
    assert m.add_web("<190>Nov 22 10:00:00 web1 nginx: " + web(), "127.0.0.1", 0) == [
        web().replace("127.0.0.1", "127.0.0.2", 1)]
    assert m.add_web("\n", "127.0.0.1", 0) == []


def test_norm_addr() -> None:
    assert norm_addr("::ffff:10.0.0.1") == "10.0.0.1"
    assert norm_addr("2001:DB8::1") == "2001:db8::1"
    assert norm_addr("web1") == "web1"
