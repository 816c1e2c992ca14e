"""pen.core.formats.httpresp: the server's side of an HTTP stream under pen -H, framed only
to see a protocol switch answered (docs/pen.md "Data path", HTTP mode; RFC 9112 §6.3 framing,
RFC 9110 §7.8 and §9.3.6 for Upgrade and CONNECT).  The request side's use of it is
test_httphead.py's."""
from __future__ import annotations

import pytest

from pen.core.formats.httpresp import (CONNECT, DECLINED, HEAD, LOST, PLAIN, SWITCHED, UPGRADE,
                                       ResponseTracker, refusal)

OK_CL = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
OK_CHUNKED = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
              b"5;ext=1\r\nhello\r\n0\r\nTrailer: x\r\n\r\n")
SWITCH = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"


def tracker(*kinds: int, max_head: int = 65536) -> ResponseTracker:
    t = ResponseTracker(max_head)
    for kind in kinds:
        t.expect(kind)
    return t


def test_101_to_an_upgrade_switches_and_nothing_after_it_is_read() -> None:
    t = tracker(UPGRADE)
    assert t.feed(SWITCH + b"\x81\x05hello") == SWITCHED
    assert t.done() and not t.lost() and t.outstanding() == 0
    assert t.feed(b"HTTP/1.1 garbage") == 0           # the tunnel's bytes are not HTTP


@pytest.mark.parametrize("code,event", [(b"200", SWITCHED), (b"299", SWITCHED),
                                        (b"407", DECLINED), (b"502", DECLINED)])
def test_connect_is_switched_by_any_2xx(code: bytes, event: int) -> None:
    """RFC 9110 §9.3.6: any 2xx to CONNECT makes the connection a tunnel."""
    t = tracker(CONNECT)
    assert t.feed(b"HTTP/1.1 " + code + b" Whatever\r\n\r\n") == event


def test_an_upgrade_answered_otherwise_is_declined_and_framing_goes_on() -> None:
    t = tracker(UPGRADE, PLAIN)
    assert t.feed(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno") == DECLINED
    assert t.outstanding() == 1 and not t.done()
    assert t.feed(OK_CL) == 0 and t.outstanding() == 0


def test_interim_responses_do_not_answer_the_request() -> None:
    """100 Continue and 103 Early Hints come before the final response (RFC 9110 §15.2)."""
    t = tracker(UPGRADE)
    assert t.feed(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n") == 0
    assert t.outstanding() == 1
    assert t.feed(SWITCH) == SWITCHED


def test_a_101_nobody_asked_for_is_lost() -> None:
    t = tracker(PLAIN)
    assert t.feed(SWITCH) == LOST and t.lost() and t.outstanding() == 0
    assert t.feed(OK_CL) == 0                          # lost for good: reports nothing more


def test_a_switch_waits_behind_earlier_responses_of_every_framing() -> None:
    """Pipelined: a Content-Length body, a chunked body, a HEAD's and a 204's and a 304's
    missing bodies (RFC 9112 §6.3), then the switch."""
    t = tracker(PLAIN, PLAIN, HEAD, PLAIN, PLAIN, UPGRADE)
    stream = (OK_CL + OK_CHUNKED + b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"
              + b"HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n"
              + b"HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n" + SWITCH)
    assert t.feed(stream) == SWITCHED


def test_any_split_of_the_reads_gives_the_same_event() -> None:
    stream = OK_CL + OK_CHUNKED + b"\r\n" + SWITCH     # a stray line end between responses
    for cut in range(len(stream) + 1):
        t = tracker(PLAIN, PLAIN, UPGRADE)
        assert (t.feed(stream[:cut]), t.feed(stream[cut:])) in ((0, SWITCHED), (SWITCHED, 0)), cut
    t = tracker(PLAIN, PLAIN, UPGRADE)
    assert [t.feed(stream[i:i + 1]) for i in range(len(stream))][-1] == SWITCHED


def test_lf_only_heads_are_read_too() -> None:
    t = tracker(PLAIN, UPGRADE)
    assert t.feed(b"HTTP/1.0 200 OK\nContent-Length: 1\n\nxHTTP/1.1 101 Up\n\n") == SWITCHED


def test_a_body_without_a_length_runs_until_the_server_closes() -> None:
    t = tracker(PLAIN, UPGRADE)
    assert t.feed(b"HTTP/1.0 200 OK\r\n\r\nbody " + SWITCH) == 0
    assert t.done() and not t.lost()                  # nothing more to learn, nothing wrong


def test_transfer_encoding_not_ending_in_chunked_runs_until_close() -> None:
    t = tracker(PLAIN)
    t.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\nContent-Length: 3\r\n\r\n")
    assert t.done() and not t.lost()


@pytest.mark.parametrize("head", [
    "HTTP/1.1 ¹00 OK\r\n\r\n".encode(),                           # a Unicode digit
    "HTTP/1.1 ٢٠٠ OK\r\n\r\n".encode(),
    b"HTTP/1.1 2000 OK\r\n\r\n",                                  # over-long code
    b"HTTP/1.1 20 OK\r\n\r\n",
    b"ICY 200 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: " + b"9" * 19 + b"\r\n\r\n",   # never int()'d
    b"HTTP/1.1 200 OK\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: ١٠\r\n\r\n".encode(),
    b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1" * 16 + b"\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n١\r\n".encode(),
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxy",  # no CRLF after the data
])
def test_hostile_responses_are_lost_cleanly(head: bytes) -> None:
    t = tracker(UPGRADE, UPGRADE)
    assert t.feed(head + SWITCH) == LOST and t.lost()


def test_equal_lengths_and_leading_zeros_are_one_length() -> None:
    t = tracker(PLAIN, UPGRADE)
    assert t.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 005\r\ncontent-length: 5\r\n\r\n"
                  b"helloHTTP/1.1 101 Up\r\n\r\n") == SWITCHED


def test_bytes_with_no_request_outstanding_are_lost() -> None:
    assert tracker().feed(OK_CL) == LOST


def test_a_head_that_never_ends_is_lost_past_max_head() -> None:
    t = tracker(PLAIN, max_head=100)
    assert t.feed(b"HTTP/1.1 200 OK\r\nX: " + b"a" * 80) == 0      # held: may still end
    assert t.feed(b"a" * 20) == LOST


def test_a_chunk_size_line_that_never_ends_is_lost_past_max_head() -> None:
    t = tracker(PLAIN, max_head=100)
    t.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;" + b"e" * 99)
    assert t.lost()


@pytest.mark.parametrize("status,reason", [(400, "Bad Request"),
                                           (431, "Request Header Fields Too Large")])
def test_a_refusal_is_a_complete_response_that_closes(status: int, reason: str) -> None:
    """What pen answers for a request it will not forward (docs/pen.md "Data path")."""
    raw = refusal(status)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("ascii").split("\r\n")
    assert lines[0] == f"HTTP/1.1 {status} {reason}"
    assert "Connection: close" in lines and f"Content-Length: {len(body)}" in lines
    assert body == f"{status} {reason}\r\n".encode()
    assert tracker(PLAIN).feed(raw) == 0                       # it frames as it says
