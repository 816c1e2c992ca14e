"""Web servers' access-log lines (docs/penlogd.md "Log formats")."""
from __future__ import annotations

import calendar

import pytest

from pen.core.formats.weblog import parse_clf_time, parse_web_line, render, strip_syslog

COMMON = '127.0.0.1 - - [22/Nov/2026:02:43:06 +0000] "GET / HTTP/1.1" 200 16'
COMBINED = ('127.0.0.1 - frank [22/Nov/2026:02:43:06 +0000] "GET /a?b=c HTTP/1.1" 200 16 '
            '"http://ref/" "curl/7.88.1"')
T0 = calendar.timegm((2026, 11, 22, 2, 43, 6))


def test_time_offsets_are_applied_exactly() -> None:
    assert parse_clf_time("22/Nov/2026:02:43:06 +0000") == T0
    assert parse_clf_time("22/Nov/2026:03:43:06 +0100") == T0
    assert parse_clf_time("21/Nov/2026:21:13:06 -0530") == T0
    assert parse_clf_time("22/Nov/2026:02:43:06") == T0
    # a summer date: C's tm_isdst bug would land one hour off (docs/compatibility.md)
    assert parse_clf_time("01/Jul/2026:12:00:00 +0200") == calendar.timegm((2026, 7, 1, 10, 0, 0))


@pytest.mark.parametrize("bad", ["", "22/Foo/2026:02:43:06 +0000", "22/Nov/2026 02:43:06",
                                 "40/Nov/2026:02:43:06 +0000", "22/Nov/2026:25:43:06 +0000"])
def test_bad_times(bad: str) -> None:
    assert parse_clf_time(bad) is None


def test_common() -> None:
    w = parse_web_line(COMMON + "\n")
    assert w is not None
    assert (w.host, w.vhost, w.request, w.epoch, w.rport, w.sport) == (
        "127.0.0.1", None, "GET / HTTP/1.1", T0, None, None)
    assert render(w) == COMMON
    assert render(w, "192.0.2.7") == COMMON.replace("127.0.0.1", "192.0.2.7", 1)


def test_combined_keeps_everything_after_the_request() -> None:
    w = parse_web_line(COMBINED)
    assert w is not None and w.request == "GET /a?b=c HTTP/1.1"
    assert render(w, "198.51.100.9") == "198.51.100.9" + COMBINED[len("127.0.0.1"):]


def test_vhost_prefix_replaces_the_client_not_the_vhost() -> None:
    line = "www.example.com:80 " + COMBINED
    w = parse_web_line(line)
    assert w is not None and w.vhost == "www.example.com:80" and w.host == "127.0.0.1"
    assert render(w, "203.0.113.5") == "www.example.com:80 203.0.113.5" + COMBINED[len("127.0.0.1"):]


def test_connection_trailer_is_read_and_removed() -> None:
    w = parse_web_line(COMBINED + " rport=40001 sport=8080\r\n")
    assert w is not None and (w.rport, w.sport) == (40001, 8080)
    assert render(w, "192.0.2.1") == "192.0.2.1" + COMBINED[len("127.0.0.1"):]
    w = parse_web_line(COMMON + " rport=5")
    assert w is not None and (w.rport, w.sport) == (5, None) and render(w) == COMMON


def test_trailing_numbers_that_are_not_the_trailer_stay() -> None:
    w = parse_web_line(COMMON + " 0.003 port=9 rport=x")
    assert w is not None and w.rport is None and render(w) == COMMON + " 0.003 port=9 rport=x"


def test_escaped_quotes_in_request() -> None:
    line = r'127.0.0.1 - - [22/Nov/2026:02:43:06 +0000] "GET /\"x\" HTTP/1.1" 404 0 rport=7'
    w = parse_web_line(line)
    assert w is not None and w.request == r'GET /\"x\" HTTP/1.1' and w.rport == 7


@pytest.mark.parametrize("bad", ["garbage line without quotes", "", "127.0.0.1 - - [bad] \"GET /\" 200 1",
                                 '127.0.0.1 - - [22/Nov/2026:02:43:06 +0000] no quotes',
                                 '[22/Nov/2026:02:43:06 +0000] "GET /" 200 1'])
def test_unparseable(bad: str) -> None:
    assert parse_web_line(bad) is None


def test_syslog_header_is_stripped() -> None:
    assert strip_syslog("<190>Nov 22 02:43:06 web1 nginx: " + COMMON) == COMMON
    assert strip_syslog("<190>Nov  2 02:43:06 nginx: " + COMMON) == COMMON
    assert strip_syslog(COMMON) == COMMON
    assert strip_syslog("<x> not syslog") == "<x> not syslog"
