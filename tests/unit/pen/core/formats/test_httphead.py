"""pen.core.formats.httphead: X-Forwarded-For/-Proto on every request (pen(1) -H; docs/pen.md "Data path")."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pen.core.formats import httpresp
from pen.core.formats.httphead import RequestRewriter

IP = "127.0.0.1"
XF = b"X-Forwarded-Proto: http\r\nX-Forwarded-For: 127.0.0.1\r\n"
XF_LF = b"X-Forwarded-Proto: http\nX-Forwarded-For: 127.0.0.1\n"

# observed with C pen 0.34.1: what curl sent, and what C pen 0.34.1 delivered to the echo backend
CURL_A = b"GET /a HTTP/1.1\r\nHost: 127.0.0.1:10085\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n"
CURL_B = CURL_A.replace(b"/a", b"/b")
C_PEN_A = (b"GET /a HTTP/1.1\r\nHost: 127.0.0.1:10085\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n"
           b"X-Forwarded-Proto: http\r\nX-Forwarded-For: 127.0.0.1\r\n\r\n")


def run(chunks: list[bytes], **kw: object) -> tuple[bytes, list[bytes], RequestRewriter]:
    """Feed `chunks` one by one, then flush: everything sent, every first line reported."""
    rw = RequestRewriter(IP, **kw)  # type: ignore[arg-type]
    sent: list[bytes] = []
    lines: list[bytes] = []
    for chunk in chunks:
        out, first = rw.feed(chunk)
        sent.append(bytes(out))
        lines.extend(first)
    sent.append(rw.flush())
    return b"".join(sent), lines, rw


def whole(data: bytes, **kw: object) -> tuple[bytes, list[bytes]]:
    out, lines, _ = run([data], **kw)
    return out, lines


def with_xf(head: bytes, xf: bytes = XF) -> bytes:
    """`head` (ending in an empty line) with pen's two headers inserted before the empty line."""
    eol = b"\r\n" if head.endswith(b"\r\n\r\n") else b"\n"
    return head[:-len(eol)] + xf + eol


# ----------------------------------------------------------------------------- C compatibility

def test_c_pen_transcript_is_byte_identical() -> None:
    rw = RequestRewriter(IP)
    out, lines = rw.feed(CURL_A)
    assert out == C_PEN_A
    assert lines == [b"GET /a HTTP/1.1"]
    assert rw.pending() == 0 and not rw.passthrough()


def test_https_proto() -> None:
    out, _ = RequestRewriter("192.0.2.7", proto="https").feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert out == (b"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-Proto: https\r\n"
                   b"X-Forwarded-For: 192.0.2.7\r\n\r\n")


def test_ipv6_client() -> None:
    out, _ = RequestRewriter("2001:db8::1").feed(b"GET / HTTP/1.1\r\n\r\n")
    assert out == b"GET / HTTP/1.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-For: 2001:db8::1\r\n\r\n"


def test_head_without_fields() -> None:
    assert whole(b"GET / HTTP/1.0\r\n\r\n") == (with_xf(b"GET / HTTP/1.0\r\n\r\n"), [b"GET / HTTP/1.0"])
    assert whole(b"GET / HTTP/1.0\n\n") == (with_xf(b"GET / HTTP/1.0\n\n", XF_LF), [b"GET / HTTP/1.0"])


@pytest.mark.parametrize("bad", ["", "1.2.3.4\r\nX-Evil: 1", "a b", "1.2.3.4,5.6.7.8", "é"])
def test_unsafe_client_ip_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        RequestRewriter(bad)
    with pytest.raises(ValueError):
        RequestRewriter(IP, proto=bad)


# ----------------------------------------------------------------------------- many requests

def test_keep_alive_two_requests() -> None:
    rw = RequestRewriter(IP)
    assert rw.feed(CURL_A) == (C_PEN_A, [b"GET /a HTTP/1.1"])
    assert rw.feed(CURL_B) == (C_PEN_A.replace(b"/a", b"/b"), [b"GET /b HTTP/1.1"])


def test_pipelined_three_in_one_read() -> None:
    reqs = [b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\n", b"HEAD /2 HTTP/1.1\r\nHost: h\r\n\r\n",
            b"DELETE /3 HTTP/1.1\r\nHost: h\r\n\r\n"]
    out, lines = whole(b"".join(reqs))
    assert out == b"".join(with_xf(r) for r in reqs)
    assert lines == [b"GET /1 HTTP/1.1", b"HEAD /2 HTTP/1.1", b"DELETE /3 HTTP/1.1"]
    assert out.count(b"X-Forwarded-For: 127.0.0.1\r\n") == 3


@pytest.mark.parametrize("method", [b"GET", b"POST", b"HEAD", b"PUT", b"DELETE", b"OPTIONS", b"PATCH",
                                    b"TRACE", b"PROPFIND", b"M-SEARCH", b"X~!#$%&'*+.^_`|"])
def test_every_method_token(method: bytes) -> None:
    """C pen only rewrote GET/POST/HEAD (PUT observed untouched: docs/compatibility.md); we do any token."""
    head = method + b" /x HTTP/1.1\r\nHost: h\r\n\r\n"
    assert whole(head) == (with_xf(head), [method + b" /x HTTP/1.1"])


def test_request_target_forms() -> None:
    for target in (b"*", b"http://example.com/a?b=c", b"/%7Euser/\xc3\xa9"):
        head = b"OPTIONS " + target + b" HTTP/1.1\r\n\r\n"
        assert whole(head)[0] == with_xf(head)


def test_empty_lines_between_requests_are_forwarded() -> None:
    """RFC 9112 §2.2: an empty line before a request line is ignored, not taken as non-HTTP."""
    a = b"POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nok"
    b = b"GET /b HTTP/1.1\r\n\r\n"
    out, lines = whole(b"\r\n" + a + b"\r\n\n" + b)
    assert out == b"\r\n" + with_xf(a[:-2]) + b"ok" + b"\r\n\n" + with_xf(b)
    assert lines == [b"POST /a HTTP/1.1", b"GET /b HTTP/1.1"]


# ----------------------------------------------------------------------------- bodies

def test_content_length_body_is_not_rewritten() -> None:
    body = b"GET /evil HTTP/1.1\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n"
    post = b"POST /up HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body)
    nxt = b"GET /next HTTP/1.1\r\n\r\n"
    out, lines = whole(post + body + nxt)
    assert out == with_xf(post) + body + with_xf(nxt)
    assert lines == [b"POST /up HTTP/1.1", b"GET /next HTTP/1.1"]


def test_body_bytes_are_never_held() -> None:
    rw = RequestRewriter(IP)
    post = b"PUT /f HTTP/1.1\r\nContent-Length: 10\r\n\r\n"
    assert rw.feed(post + b"abc") == (with_xf(post) + b"abc", [b"PUT /f HTTP/1.1"])
    chunk = b"defg"
    out, lines = rw.feed(chunk)
    assert out is chunk and lines == []          # all body: the very object comes back
    view = memoryview(b"hij")
    assert rw.feed(view)[0] is view
    assert rw.pending() == 0
    assert rw.feed(b"GET / HTTP/1.1\r\n\r\n")[1] == [b"GET / HTTP/1.1"]


def test_content_length_list_of_equal_values() -> None:
    head = b"POST / HTTP/1.1\r\nContent-Length: 3, 3\r\nContent-length:3\r\n\r\n"
    out, lines = whole(head + b"GETGET / HTTP/1.1\r\n\r\n")
    assert out == with_xf(head) + b"GET" + with_xf(b"GET / HTTP/1.1\r\n\r\n")
    assert len(lines) == 2


def test_chunked_body_with_extensions_and_trailers() -> None:
    head = b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n"
    body = (b"5;name=value;x=\"q\"\r\nGET /\r\n"
            b"1A \t; ext\r\n" + b"GET /x HTTP/1.1\r\n\r\nabcdefg" + b"\r\n"
            b"0;last\r\nX-Trailer: GET / HTTP/1.1\r\nOther: t\r\n\r\n")
    nxt = b"GET /after HTTP/1.1\r\n\r\n"
    out, lines = whole(head + body + nxt)
    assert out == with_xf(head) + body + with_xf(nxt)
    assert lines == [b"POST /c HTTP/1.1", b"GET /after HTTP/1.1"]


def test_chunked_bare_lf_and_no_trailers() -> None:
    head = b"POST /c HTTP/1.1\nTransfer-Encoding: chunked\n\n"
    body = b"3\nabc\n0\n\n"
    nxt = b"GET /n HTTP/1.1\n\n"
    assert whole(head + body + nxt) == (with_xf(head, XF_LF) + body + with_xf(nxt, XF_LF),
                                        [b"POST /c HTTP/1.1", b"GET /n HTTP/1.1"])


def test_expect_100_continue_needs_nothing_special() -> None:
    rw = RequestRewriter(IP)
    head = b"PUT /f HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"
    assert rw.feed(head)[0] == with_xf(head)
    assert rw.feed(b"data") == (b"data", [])
    assert rw.feed(b"GET / HTTP/1.1\r\n\r\n")[1] == [b"GET / HTTP/1.1"]


# ----------------------------------------------------------------------------- existing headers

def test_existing_xff_gets_pen_appended() -> None:
    head = b"GET / HTTP/1.1\r\nX-Forwarded-For: 1.2.3.4\r\nHost: h\r\n\r\n"
    out, _ = whole(head)
    assert out == (b"GET / HTTP/1.1\r\nX-Forwarded-For: 1.2.3.4, 127.0.0.1\r\nHost: h\r\n"
                   b"X-Forwarded-Proto: http\r\n\r\n")


def test_last_of_several_xff_fields_and_any_case() -> None:
    head = (b"GET / HTTP/1.1\r\nx-forwarded-for: 1.1.1.1\r\nX-FORWARDED-FOR:2.2.2.2, 3.3.3.3 \t\r\n"
            b"X-Forwarded-Form: no\r\n\r\n")
    out, _ = whole(head)
    assert out == (b"GET / HTTP/1.1\r\nx-forwarded-for: 1.1.1.1\r\n"
                   b"X-FORWARDED-FOR:2.2.2.2, 3.3.3.3, 127.0.0.1 \t\r\nX-Forwarded-Form: no\r\n"
                   b"X-Forwarded-Proto: http\r\n\r\n")


def test_empty_xff_value() -> None:
    assert whole(b"GET / HTTP/1.1\r\nX-Forwarded-For:\r\n\r\n")[0] == (
        b"GET / HTTP/1.1\r\nX-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Proto: http\r\n\r\n")
    assert whole(b"GET / HTTP/1.1\nX-Forwarded-For: \n\n")[0] == (
        b"GET / HTTP/1.1\nX-Forwarded-For: 127.0.0.1 \nX-Forwarded-Proto: http\n\n")


def test_spoofed_xfp_is_replaced() -> None:
    head = b"GET / HTTP/1.1\r\nX-Forwarded-Proto: https\r\nHost: h\r\nx-forwarded-proto:ftp\r\n\r\n"
    out, _ = whole(head)
    assert out == b"GET / HTTP/1.1\r\nHost: h\r\n" + XF + b"\r\n"


def test_spoofed_xfp_as_last_field_with_xff() -> None:
    head = b"GET / HTTP/1.1\nX-Forwarded-For: 10.1.1.1\nX-Forwarded-Proto: https\n\n"
    assert whole(head)[0] == (b"GET / HTTP/1.1\nX-Forwarded-For: 10.1.1.1, 127.0.0.1\n"
                              b"X-Forwarded-Proto: http\n\n")


def test_lf_only_heads_get_lf_lines() -> None:
    head = b"GET / HTTP/1.1\nHost: h\nAccept: */*\n\n"
    assert whole(head) == (b"GET / HTTP/1.1\nHost: h\nAccept: */*\n" + XF_LF + b"\n", [b"GET / HTTP/1.1"])


def test_mixed_endings_follow_the_last_field() -> None:
    assert whole(b"GET / HTTP/1.1\r\nHost: h\r\n\n")[0] == b"GET / HTTP/1.1\r\nHost: h\r\n" + XF + b"\n"
    assert whole(b"GET / HTTP/1.1\nHost: h\n\r\n")[0] == b"GET / HTTP/1.1\nHost: h\n" + XF_LF + b"\r\n"


def test_head_ends_at_the_first_empty_line() -> None:
    head = b"POST / HTTP/1.1\nContent-Length: 2\n\n"
    assert whole(head + b"\r\n")[0] == with_xf(head, XF_LF) + b"\r\n"


# ----------------------------------------------------------------------------- not HTTP

TLS_HELLO = bytes.fromhex("16030100c4010000c00303") + bytes(range(32)) + b"\x00\x02\x13\x01\x01\x00"


@pytest.mark.parametrize("data", [
    TLS_HELLO, b"\x00\x01\x02\x03", b"SSH-2.0-OpenSSH_9.2\r\n", b"EHLO example\r\n",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", b"PRI * HTTP/2.0\r\n\r\n", b"partial rest\n", b"USER bob\r\n",
])
def test_not_http_passes_through_identical(data: bytes) -> None:
    rw = RequestRewriter(IP)
    out, lines = rw.feed(data)
    assert out is data and lines == [] and rw.passthrough() and rw.pending() == 0
    more = b"GET / HTTP/1.1\r\n\r\n"
    assert rw.feed(more)[0] is more


@pytest.mark.parametrize("data", [TLS_HELLO, b"\x00\x01", b"SSH-2.0-OpenSSH_9.2\r\n",
                                  b"EHLO example\r\n"])
def test_not_http_detected_early_when_fed_byte_by_byte(data: bytes) -> None:
    out, lines, rw = run([data[i:i + 1] for i in range(len(data))])
    assert out == data and lines == [] and rw.passthrough()


@pytest.mark.parametrize("data", [
    b"GET /\r\n", b"GET / HTTP/1.1 extra\r\n\r\n", b"GET / HTTP/3.0\r\n\r\n", b"GET / HTTP/0.9\r\n\r\n",
    b"(GET) / HTTP/1.1\r\n\r\n", b"GET\t/ HTTP/1.1\r\n\r\n", b"CONNECT x:1\r\n\r\n",
])
def test_http_looking_first_lines_we_cannot_frame_are_refused(data: bytes) -> None:
    """Some server would take these for a request (HTTP/0.9 has no head to put pen's
    headers in): refused, never passed through."""
    rw = RequestRewriter(IP)
    out, lines = rw.feed(data)
    assert out == b"" and rw.rejected() == 400 and not rw.passthrough()
    assert rw.feed(b"GET / HTTP/1.1\r\n\r\n") == (b"", [])
    assert rw.flush() == b""


@pytest.mark.parametrize("line", [
    b"GET  / HTTP/1.1", b"GET /  HTTP/1.1", b"GET / HTTP/1.1 ", b"GET / HTTP/1.1   ",
    b"A" * 40 + b" / HTTP/1.1", b"GET / HTTP/1.01", b"GET / HTTP/01.1", b"BREW-COFFEE_NOW / HTTP/1.1",
    b"GET / HTTP/2.0",
])
def test_lax_request_lines_nginx_accepts_are_rewritten(line: bytes) -> None:
    head = line + b"\r\nHost: h\r\n\r\n"
    out, lines = whole(head)
    assert out == with_xf(head) and lines == [line]
    out, lines, _ = run([head[i:i + 1] for i in range(len(head))])
    assert out == with_xf(head) and lines == [line]


def test_long_token_is_held_until_its_line_ends() -> None:
    rw = RequestRewriter(IP)
    assert rw.feed(b"A" * 100) == (b"", []) and not rw.passthrough()
    assert rw.feed(b" / HTTP/1.1\r\n\r\n")[0] == with_xf(b"A" * 100 + b" / HTTP/1.1\r\n\r\n")


@pytest.mark.parametrize("kind", [bytearray, memoryview])
def test_passthrough_returns_the_object_given(kind: type) -> None:
    rw = RequestRewriter(IP)
    data = kind(TLS_HELLO)
    assert rw.feed(data)[0] is data
    more = kind(b"GET / HTTP/1.1\r\n\r\n")
    assert rw.feed(more)[0] is more


def test_held_head_reaching_max_head_is_431() -> None:
    head = b"GET / HTTP/1.1\r\nX-Pad: " + b"p" * 41
    assert len(head) == 64
    out, lines, rw = run([head], max_head=64)
    assert out == b"" and rw.rejected() == 431
    out, lines, rw = run([head[:-1]], max_head=64)
    assert not rw.rejected() and out == b""          # an incomplete HTTP head: dropped at EOF


def test_not_http_first_line_is_never_held() -> None:
    """A line-based protocol client sends one line and waits: it must reach the server now."""
    rw = RequestRewriter(IP)
    assert rw.feed(b"EH")[0] == b""               # could still be a method
    assert rw.feed(b"LO x\r\n") == (b"EHLO x\r\n", [])
    assert rw.passthrough()


@pytest.mark.parametrize("after", [b"\x16\x03\x01GET / HTTP/1.1\r\n\r\n", b"EHLO x\r\n",
                                   b"GET /\r\n", b"PRI * HTTP/2.0\r\n\r\n"])
def test_anything_but_a_request_after_valid_requests_is_refused(after: bytes) -> None:
    req = b"GET / HTTP/1.1\r\n\r\n"
    rw = RequestRewriter(IP)
    out, lines = rw.feed(req + after)
    assert out == with_xf(req) and lines == [b"GET / HTTP/1.1"] and rw.rejected() == 400


def test_oversized_head_is_431_with_nothing_of_it_forwarded() -> None:
    head = b"GET / HTTP/1.1\r\n" + b"X-Pad: " + b"p" * 200 + b"\r\n"
    rw = RequestRewriter(IP, max_head=128)
    out, lines = rw.feed(head[:100])
    assert out == b"" and lines == [b"GET / HTTP/1.1"] and rw.pending() == 100
    out, _ = rw.feed(head[100:])
    assert out == b"" and rw.rejected() == 431 and rw.pending() == 0
    assert rw.feed(b"\r\n")[0] == b""


def test_oversized_head_in_one_read_and_exact_limit() -> None:
    head = b"GET / HTTP/1.1\r\nX-Pad: " + b"p" * 100 + b"\r\n\r\n"
    out, lines, rw = run([head], max_head=len(head) - 1)
    assert out == b"" and rw.rejected() == 431 and lines == [b"GET / HTTP/1.1"]
    out, _, rw = run([head], max_head=len(head))
    assert out == with_xf(head) and not rw.rejected()


def test_overlong_request_line_is_431() -> None:
    line = b"GET /" + b"a" * 200
    out, lines, rw = run([line[i:i + 7] for i in range(0, len(line), 7)], max_head=100)
    assert out == b"" and lines == [] and rw.rejected() == 431


def test_overlong_token_run_that_is_no_request_passes_through() -> None:
    data = b"A" * 100
    out, lines, rw = run([data], max_head=100)
    assert out == data and rw.passthrough()


# ----------------------------------------------------------------------------- protocol switch

SWITCHES = [
    (b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
     b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"),
    (b"GET / HTTP/1.1\r\nConnection: Upgrade, HTTP2-Settings\r\nupgrade: h2c\r\n\r\n",
     b"HTTP/1.1 101 Switching Protocols\r\n\r\n"),
    (b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
     b"HTTP/1.1 200 Connection established\r\n\r\n"),
]


@pytest.mark.parametrize("head,reply", SWITCHES)
def test_switch_passes_through_only_after_the_servers_yes(head: bytes, reply: bytes) -> None:
    after = b"GET / HTTP/1.1\r\n\r\n"      # tunnelled once switched: not ours to rewrite
    rw = RequestRewriter(IP)
    out, lines = rw.feed(head + after)
    assert out == with_xf(head) and rw.waiting() and not rw.passthrough()
    assert lines == [head.split(b"\r\n")[0]]
    assert rw.feed(b"more") == (b"", [])
    assert rw.responses.feed(reply) == httpresp.SWITCHED
    assert rw.resolve(True) == (after + b"more", [])
    assert rw.passthrough()
    nxt = b"GET / HTTP/1.1\r\n\r\n"
    assert rw.feed(nxt) == (nxt, [])


@pytest.mark.parametrize("head,_", SWITCHES)
def test_switch_the_server_ignores_keeps_framing(head: bytes, _: bytes) -> None:
    """The issue-18 bypass: an Upgrade nobody answers with 101, then a spoofed request."""
    spoof = b"GET /admin HTTP/1.1\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n"
    rw = RequestRewriter(IP)
    assert rw.feed(head + spoof)[0] == with_xf(head)
    reply = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno"
    assert rw.responses.feed(reply) == httpresp.DECLINED
    out, lines = rw.resolve(False)
    assert out == b"GET /admin HTTP/1.1\r\nX-Forwarded-For: 10.0.0.1, 127.0.0.1\r\n" \
                  b"X-Forwarded-Proto: http\r\n\r\n"
    assert lines == [b"GET /admin HTTP/1.1"] and not rw.passthrough()


def test_switch_waits_behind_earlier_pipelined_responses() -> None:
    first = b"GET /a HTTP/1.1\r\n\r\n"
    head, reply = SWITCHES[0]
    rw = RequestRewriter(IP)
    rw.feed(first + head + b"\x81\x00")
    t = rw.responses
    assert t.outstanding() == 2
    assert t.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n") == 0
    assert rw.waiting() and t.outstanding() == 1
    assert t.feed(b"HTTP/1.1 100 Continue\r\n\r\n") == 0
    assert t.feed(reply + b"\x81\x00") == httpresp.SWITCHED
    assert rw.resolve(True) == (b"\x81\x00", [])


def test_held_bytes_while_waiting_are_bounded() -> None:
    rw = RequestRewriter(IP, max_head=100)
    rw.feed(SWITCHES[0][0])
    rw.feed(b"x" * 99)
    assert not rw.full()
    rw.feed(b"x")
    assert rw.full()


def test_upgrade_with_a_body_waits_after_the_body() -> None:
    head = b"POST /up HTTP/1.1\r\nUpgrade: h2c\r\nContent-Length: 3\r\n\r\n"
    rw = RequestRewriter(IP)
    assert rw.feed(head + b"abcGET") == (with_xf(head) + b"abc", [b"POST /up HTTP/1.1"])
    assert rw.waiting()


def test_rewrite_false_switch_passes_through_after_head() -> None:
    head = SWITCHES[0][0]
    rw = RequestRewriter(IP, rewrite=False)
    data = head + b"GET / HTTP/1.1\r\n\r\n"
    assert rw.feed(data) == (data, [head.split(b"\r\n")[0]]) and rw.passthrough()


# ----------------------------------------------------------------------------- framing refused

@pytest.mark.parametrize("fields", [
    b"Content-Length: 5\r\nContent-Length: 6\r\n",
    b"Content-Length: 5, 6\r\n",
    b"Content-Length: +5\r\n",
    b"Content-Length: 0x5\r\n",
    b"Content-Length:\r\n",
    b"Content-Length: 1234567890123456789\r\n",
    b"Content-Length: \xd9\xa3\r\n",
    b"Content-Length : 5\r\n",
    b"X-Forwarded-For : 1.2.3.4\r\n",
    b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
    b"Transfer-Encoding: chunked, gzip\r\n",
    b"Transfer-Encoding: gzip\r\n",
    b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
    b"Transfer-Encoding: \r\n",
    b"X-A: 1\r\n Content-Length: 5\r\n",
    b"X-A: 1\rContent-Length: 5\r\n",
])
def test_ambiguous_framing_is_refused_before_the_head_is_sent(fields: bytes) -> None:
    head = b"POST / HTTP/1.1\r\n" + fields + b"\r\n"
    rest = b"0\r\n\r\nGET / HTTP/1.1\r\n\r\n"   # a 5-byte body, or an empty chunked one
    out, lines, rw = run([head + rest])
    assert out == b"" and rw.rejected() == 400 and lines == [b"POST / HTTP/1.1"]


@pytest.mark.parametrize("fields,body", [
    (b"Content-Length: 0005\r\n", b"abcde"),
    (b"Content-Length: 00000000000000000000000000005\r\n", b"abcde"),
    (b"Content-Length: 5, 005\r\n", b"abcde"),
    (b"Transfer-Encoding: chunked\r\n", b"00000000000000000000005\r\nabcde\r\n0\r\n\r\n"),
    (b"Transfer-Encoding: chunked\r\n", b"5;\x01\x7fctl\x00\r\nabcde\r\n000\r\n\r\n"),
])
def test_zero_padding_and_control_bytes_nginx_accepts_are_framed(fields: bytes, body: bytes) -> None:
    head = b"POST / HTTP/1.1\r\n" + fields + b"\r\n"
    nxt = b"GET /n HTTP/1.1\r\n\r\n"
    out, lines = whole(head + body + nxt)
    assert out == with_xf(head) + body + with_xf(nxt)
    assert lines == [b"POST / HTTP/1.1", b"GET /n HTTP/1.1"]


def test_chunked_on_http10_is_refused() -> None:
    head = b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"
    out, _, rw = run([head + b"0\r\n\r\n"])
    assert out == b"" and rw.rejected() == 400


@pytest.mark.parametrize("body", [b"zz\r\n", b"\r\n", b"5\rx\r\n", b"1;a\rb\r\n",
                                  b"1000000000000000\r\n", b"3\r\nabcX", b"3\r\nabc\r\r\n0\r\n\r\n"])
def test_malformed_chunking_is_refused(body: bytes) -> None:
    head = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    rest = body + b"GET / HTTP/1.1\r\n\r\n"
    out, _, rw = run([head + rest])
    assert rw.rejected() == 400 and out.startswith(with_xf(head))
    assert b"GET / HTTP/1.1" not in out[len(with_xf(head)):]


def test_endless_trailers_are_refused() -> None:
    head = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    rw = RequestRewriter(IP, max_head=100)
    rw.feed(head + b"0\r\n")
    for _ in range(10):
        rw.feed(b"T: " + b"t" * 20 + b"\r\n")
    assert rw.rejected() == 431 and rw.pending() == 0


def test_overlong_chunk_extension_is_refused() -> None:
    head = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    rw = RequestRewriter(IP, max_head=100)
    rw.feed(head + b"5;")
    for _ in range(10):
        rw.feed(b"e" * 20)
    assert rw.rejected() == 400


# ----------------------------------------------------------------------------- rewrite=False

def test_rewrite_false_leaves_bytes_identical_and_reports_lines() -> None:
    stream = STREAM
    rw = RequestRewriter(IP, rewrite=False)
    sent, lines = [], []
    for i in range(len(stream)):
        piece = stream[i:i + 1]
        out, first = rw.feed(piece)
        assert out is piece and rw.pending() == 0
        sent.append(out)
        lines += first
    assert rw.flush() == b""
    assert b"".join(sent) == stream
    assert lines == STREAM_LINES
    assert whole(stream, rewrite=False) == (stream, STREAM_LINES)


# ----------------------------------------------------------------------------- splits

STREAM_PARTS = [
    b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n",
    b"POST /form HTTP/1.1\r\nContent-Length: 20\r\n\r\nGET /no HTTP/1.1\r\n\r\n",
    b"\r\n",
    b"PUT /chunky HTTP/1.1\r\nTransfer-Encoding: chunked\r\nX-Forwarded-For: 9.9.9.9\r\n\r\n"
    b"4;a=b\r\nGET \r\n10\r\n0123456789abcdef\r\n0\r\nTrailer: x\r\n\r\n",
    b"OPTIONS * HTTP/1.1\nX-Forwarded-Proto: https\nContent-Length: 0\n\n",
    b"PATCH /z HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz",
    b"GET /last HTTP/1.0\r\nHost: h\r\n\r\n",
]
STREAM = b"".join(STREAM_PARTS)
STREAM_LINES = [b"GET /a HTTP/1.1", b"POST /form HTTP/1.1", b"PUT /chunky HTTP/1.1",
                b"OPTIONS * HTTP/1.1", b"PATCH /z HTTP/1.1", b"GET /last HTTP/1.0"]
STREAM_OUT = (
    with_xf(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n")
    + with_xf(b"POST /form HTTP/1.1\r\nContent-Length: 20\r\n\r\n") + b"GET /no HTTP/1.1\r\n\r\n"
    + b"\r\n"
    + b"PUT /chunky HTTP/1.1\r\nTransfer-Encoding: chunked\r\nX-Forwarded-For: 9.9.9.9, 127.0.0.1\r\n"
      b"X-Forwarded-Proto: http\r\n\r\n"
      b"4;a=b\r\nGET \r\n10\r\n0123456789abcdef\r\n0\r\nTrailer: x\r\n\r\n"
    + b"OPTIONS * HTTP/1.1\nContent-Length: 0\n" + XF_LF + b"\n"
    + with_xf(b"PATCH /z HTTP/1.1\r\nContent-Length: 3\r\n\r\n") + b"xyz"
    + with_xf(b"GET /last HTTP/1.0\r\nHost: h\r\n\r\n")
)


def test_stream_all_at_once() -> None:
    out, lines, rw = run([STREAM])
    assert out == STREAM_OUT and lines == STREAM_LINES and not rw.passthrough()


def test_stream_byte_by_byte() -> None:
    out, lines, rw = run([STREAM[i:i + 1] for i in range(len(STREAM))])
    assert out == STREAM_OUT and lines == STREAM_LINES and rw.pending() == 0


def test_stream_split_at_every_point() -> None:
    for cut in range(len(STREAM) + 1):
        out, lines, _ = run([STREAM[:cut], STREAM[cut:]])
        assert (out, lines) == (STREAM_OUT, STREAM_LINES), cut


def test_stream_split_at_every_pair_of_points_in_the_chunked_request() -> None:
    start = STREAM.index(b"PUT /chunky")
    stop = STREAM.index(b"OPTIONS")
    for a in range(start, stop):
        for b in range(a, stop + 1):
            out, lines, _ = run([STREAM[:a], STREAM[a:b], STREAM[b:]])
            assert (out, lines) == (STREAM_OUT, STREAM_LINES), (a, b)


def test_only_complete_heads_are_held() -> None:
    rw = RequestRewriter(IP)
    head = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
    for i in range(len(head) - 1):
        out, lines = rw.feed(head[i:i + 1])
        assert out == b"" and rw.pending() == i + 1
        assert lines == ([b"GET /a HTTP/1.1"] if head[i:i + 1] == b"\n" and b"\n" not in head[:i] else [])
    assert rw.feed(b"\n") == (with_xf(head), [])
    assert rw.pending() == 0


def test_flush_returns_undecided_bytes_and_drops_an_incomplete_http_head() -> None:
    rw = RequestRewriter(IP)
    assert rw.feed(b"GET / HTTP/1.1\r\nHost") == (b"", [b"GET / HTTP/1.1"])
    assert rw.pending() == 20
    assert rw.flush() == b""                      # HTTP: never completed by the server
    assert rw.pending() == 0 and rw.flush() == b""
    rw = RequestRewriter(IP)
    assert rw.feed(b"PING") == (b"", [])
    assert rw.flush() == b"PING"                  # may be another protocol: forwarded


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_stream_any_split(cuts: list[int]) -> None:
    points = [0, *sorted(cuts), len(STREAM)]
    chunks = [STREAM[a:b] for a, b in zip(points, points[1:])]
    out, lines, _ = run(chunks)
    assert (out, lines) == (STREAM_OUT, STREAM_LINES)
    assert run(chunks, rewrite=False)[:2] == (STREAM, STREAM_LINES)


_names = st.sampled_from([b"Host", b"Accept", b"X-Forwarded-For", b"x-forwarded-proto", b"X-Other"])
_values = st.sampled_from([b"a", b"1.2.3.4", b"", b" v ", b"https"])


@st.composite
def _requests(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """(one request, its first line) with random method, fields, framing and line endings."""
    eol = draw(st.sampled_from([b"\r\n", b"\n"]))
    method = draw(st.sampled_from([b"GET", b"POST", b"PUT", b"BREW"]))
    line = method + b" /" + draw(st.sampled_from([b"", b"p", b"q?x=1"])) + b" HTTP/1.1"
    fields = [n + b": " + v for n, v in draw(st.lists(st.tuples(_names, _values), max_size=4))]
    body = draw(st.binary(max_size=40))
    framing = draw(st.sampled_from(["none", "length", "chunked"]))
    if framing == "none":
        body = b""
    elif framing == "length":
        fields.append(b"Content-Length: %d" % len(body))
    else:
        fields.append(b"Transfer-Encoding: chunked")
        body = (b"%x;e=1\r\n" % len(body) + body + b"\r\n" if body else b"") + b"0\r\nT: 1\r\n\r\n"
    return eol.join([line, *fields, b"", b""]) + body, line


@settings(max_examples=200, deadline=None)
@given(st.lists(_requests(), min_size=1, max_size=5), st.data())
def test_random_pipelines(reqs: list[tuple[bytes, bytes]], data: st.DataObject) -> None:
    """Every request gets exactly one pen XFP and ends its XFF list with pen's address."""
    stream = b"".join(r for r, _ in reqs)
    out, lines, rw = run([stream])
    assert lines == [line for _, line in reqs] and not rw.passthrough()
    expect = []
    for req, _ in reqs:
        expect.append(whole(req)[0])
        # bytes may take feed's one-head fast path, a bytearray never does: same result
        assert RequestRewriter(IP).feed(bytearray(req))[0] == expect[-1]
        ends = [i for i in (expect[-1].find(b"\n\n"), expect[-1].find(b"\n\r\n")) if i >= 0]
        head = expect[-1][:min(ends)].lower()
        assert head.count(b"x-forwarded-proto:") == 1 and b"x-forwarded-proto: http" in head
        xff = [h for h in head.split(b"\n") if h.startswith(b"x-forwarded-for:")]
        assert xff[-1].rstrip(b"\r ").endswith(IP.encode())
    assert out == b"".join(expect)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    points = [0, *cuts, len(stream)]
    assert run([stream[a:b] for a, b in zip(points, points[1:])])[:2] == (out, lines)


def test_client_eof_while_a_switch_is_pending_keeps_the_held_bytes() -> None:
    head, reply = SWITCHES[0]
    rw = RequestRewriter(IP)
    rw.feed(head + b"\x81\x00")
    assert rw.flush() == b""                       # EOF: nothing yet, nothing lost
    assert rw.responses.feed(reply) == httpresp.SWITCHED
    assert rw.resolve(True) == (b"\x81\x00", [])
