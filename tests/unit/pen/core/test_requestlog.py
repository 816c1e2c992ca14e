"""pen.core.requestlog: which client reads become access-log lines (pen(1) -l; docs/pen.md
"Request log (-l)"), driven by the real request rewriter as the engine drives it
(pen.engine.conn).  The line's text (FIRST_LINE) is pen.core.formats.accesslog's."""
from __future__ import annotations

from pen.core.formats.httphead import RequestRewriter
from pen.core.requestlog import ReadLog


def logged(chunks: list[bytes]) -> list[list[bytes]]:
    """The texts logged after each read, then at the client's EOF (the last item)."""
    rw, log = RequestRewriter("127.0.0.1"), ReadLog()
    out = []
    for chunk in chunks:
        _, lines = rw.feed(chunk)
        out.append(log.after_read(chunk, lines, rw.passthrough(), rw.undecided()))
    out.append(log.at_eof())
    return out


def test_http_logs_one_request_line_per_request_not_per_read() -> None:
    head = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\n\r\nGE"
    assert logged([head, b"T /c HT", b"TP/1.1\r\n\r\n"]) == [
        [b"GET /a HTTP/1.1", b"GET /b HTTP/1.1"], [], [b"GET /c HTTP/1.1"], []]


def test_a_stream_that_is_not_http_logs_each_read_as_it_comes() -> None:
    assert logged([b"\x16\x03\x01hello", b"more"]) == [[b"\x16\x03\x01hello"], [b"more"], []]


def test_an_undecided_first_line_is_logged_as_c_pen_logged_its_reads() -> None:
    """C pen logs `printf partial; sleep 1; printf ' rest\\n'` as two lines: the held read
    comes out with the one that shows the stream is not HTTP."""
    assert logged([b"partial", b" rest\n"]) == [[], [b"partial", b" rest\n"], []]


def test_what_was_never_decided_is_logged_at_eof() -> None:
    """A lone `PING` without a newline: one line, when the client closes."""
    assert logged([b"PING"]) == [[], [b"PING"]]


def test_only_the_undecided_tail_of_a_read_waits() -> None:
    """The request already logged is not logged again with the held bytes after it."""
    assert logged([b"GET /a HTTP/1.1\r\n\r\nHEL", b"LO"]) == [
        [b"GET /a HTTP/1.1"], [], [b"HEL", b"LO"]]


def test_eof_hands_the_held_reads_over_once() -> None:
    log = ReadLog()
    assert log.after_read(b"PI", [], False, 2) == []
    assert log.at_eof() == [b"PI"]
    assert log.at_eof() == []


def test_a_completed_request_line_replaces_the_reads_that_held_it() -> None:
    """The request line is the log line: its pieces, held while undecided, are dropped."""
    log = ReadLog()
    log.after_read(b"GET /x", [], False, 6)
    assert log.after_read(b" HTTP/1.1\r\n\r\n", [b"GET /x HTTP/1.1"], False, 0) == [
        b"GET /x HTTP/1.1"]
    assert log.at_eof() == []
