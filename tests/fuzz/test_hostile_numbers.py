"""Issue 18, item 3: no parser lets an exception escape on hostile numbers.

Every datagram, log line, control line, probe reply and packet parser is fed the inputs that
crashed penlogd and mergelogs: Unicode digits (`str.isdigit()` is true for them, `int()`
refuses some), NUL, invalid UTF-8, and oversized fields (`int()` refuses more than 4,300
digits).  Each parser must return a result or raise its own documented error.
"""
from __future__ import annotations

import pytest
from support.control import make
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pen.core import stats
from pen.core.formats import accesslog, proxyproto, weblog
from pen.core.addr import AddressError, parse_int, parse_listen, parse_server
from pen.core.health import CheckSpec, CheckSpecError, agent_verdict, http_verdict, parse_check
from pen.core.formats.httphead import RequestRewriter
from pen.core.formats.httpresp import ResponseTracker
from pen.core.numbers import ascii_decimal, ascii_fixed, ascii_integer, c_atoi
from penctl import replies
from penvrrp.core import packet
from penvrrp.core.tracking import parse_pid_reply

FUZZ = settings(max_examples=250, deadline=2000, suppress_health_check=[HealthCheck.too_slow])

UNICODE_DIGITS = ["¹", "²", "٣", "߀", "１", "𝟗", "①", "\u0663\u0660", "½"]
HOSTILE_NUMBERS = UNICODE_DIGITS + ["\x00", "1\x002", "-1", "+5", "1_000", " 7", "0x10", "1e3",
                                    "nan", "inf", "9" * 10_000, "9" * 65_000, "0" * 5000 + "7"]
NUMBER = st.one_of(st.sampled_from(HOSTILE_NUMBERS), st.text(max_size=8),
                   st.integers(0, 10**30).map(str))
RAW = st.one_of(st.binary(max_size=60), st.sampled_from([b"\xff\xfe", b"\xc3\x28", b"\xb9",
                                                         b"\x00", b"\xed\xa0\x80"]))


def latin(b: bytes) -> str:
    return b.decode("latin-1")


BIG_RPORT = b"1.2.3.4 - - [22/Nov/2026:02:43:06 +0100] \"GET / HTTP/1.1\" 200 5 rport=" + b"9" * 65_000

# the reproducers, kept as explicit examples below
DATAGRAMS = [
    b"+ 1.2.3.4 127.0.0.1 GET / HTTP/1.1\nconn cport=\xb9\n",
    b"+ 1.2.3.4 127.0.0.1 GET / HTTP/1.1\nconn rport=" + b"9" * 65_000 + b"\n",
    b"+ 1.2.3.4 127.0.0.1 GET / HTTP/1.1\nconn cport=" + "٣".encode() + b"\n",
    BIG_RPORT,
    b"1.2.3.4 - - [22/Nov/2026:02:43:06 +0100] \"GET / HTTP/1.1\" 200 5 rport=\xb9",
    b"+ \x00 \x00 \x00\nconn cport=1 time=\x00\n",
]


@FUZZ
@given(st.one_of(RAW, st.builds(lambda k, v, tail: b"+ 1.2.3.4 127.0.0.1 GET /\nconn " + k + b"="
                                + v.encode("utf-8", "surrogatepass") + tail,
                                st.sampled_from([b"cport", b"sport", b"lport", b"time", b""]),
                                NUMBER, RAW)))
@example(DATAGRAMS[0])
@example(DATAGRAMS[1])
@example(DATAGRAMS[2])
@example(DATAGRAMS[5])
def test_pen_datagrams(data: bytes) -> None:
    accesslog.is_pen_datagram(data)
    entry = accesslog.parse_datagram(data)
    if entry is not None:
        assert isinstance(entry.client_port, int) and entry.client_port < 10**19


@FUZZ
@given(st.builds(lambda head, num, tail: head + num + tail,
                 st.sampled_from(["1.2.3.4 1700000000 127.0.0.1 GET /\tconn cport=",
                                  "1.2.3.4 ", "1.2.3.4 - - [22/Nov/2026:02:43:06 +0100] "
                                  "\"GET / HTTP/1.1\" 200 5 rport=",
                                  "h 1.2.3.4 - - [", "<190>Nov 22 02:43:06 host nginx: "]),
                 NUMBER, st.one_of(st.just(""), RAW.map(latin))))
@example("1.2.3.4 1700000000 127.0.0.1 GET /\tconn cport=\xb9")
@example("1.2.3.4 1700000000 127.0.0.1 GET /\tconn cport=" + "9" * 10_000)
@example("1.2.3.4 ١٧٠٠٠٠٠٠٠٠ 127.0.0.1 GET /")
@example(latin(BIG_RPORT))
@example('1.2.3.4 - - [٢٢/Nov/٢٠٢٦:02:43:06 +0100] "GET / HTTP/1.1" 200 5')
def test_log_lines(line: str) -> None:
    accesslog.parse_file_line(line)
    w = weblog.parse_web_line(line)
    if w is not None:
        assert w.rport is None or 0 <= w.rport <= 65535
        weblog.render(w, "192.0.2.1")
    weblog.strip_syslog(line)
    weblog.parse_clf_time(line[-30:])


@FUZZ
@given(st.lists(st.one_of(st.sampled_from(["timeout", "server", "0", "max", "port", "weight",
                                           "queue_timeout", "tls_handshake_timeout", "conn_max",
                                           "check", "tcp", "interval", "rise", "recent", "acl",
                                           "idle_timeout", "blacklist", "send_proxy"]), NUMBER),
                min_size=1, max_size=6).map(" ".join))
@example("timeout " + "9" * 10_000)
@example("queue_timeout nan")
@example("tls_handshake_timeout inf")
@example("server 0 check tcp interval ¹")
@example("server 0 max ٣")
@example("conn_max \x00")
def test_control_lines(line: str) -> None:
    interp, _ = make(running=True)
    reply = interp.run(line)
    assert isinstance(reply.text, str)
    s = interp.state.settings
    for value in (s.queue_timeout, s.tls_handshake_timeout):
        assert value == value and value != float("inf")        # never NaN nor infinite


@FUZZ
@given(st.lists(st.one_of(st.sampled_from(["interval", "timeout", "rise", "fall", "port",
                                           "expect", "host", "tcp", "http", "agent"]), NUMBER),
                max_size=6))
def test_check_specs(words: list[str]) -> None:
    try:
        spec = parse_check(words)
    except CheckSpecError:
        return
    assert spec.interval > 0 and spec.timeout > 0 and spec.interval != float("inf")


@FUZZ
@given(st.one_of(RAW, st.builds(lambda n, tail: b"HTTP/1.1 " + n.encode("utf-8", "surrogatepass")
                                + tail, NUMBER, RAW),
                 NUMBER.map(lambda n: (n + "%").encode("utf-8", "surrogatepass"))))
@example("¹%".encode())
@example(b"9" * 10_000 + b"%")
@example(b"HTTP/1.1 " + "٢٠٠".encode() + b" OK\r\n")
def test_probe_replies(reply: bytes) -> None:
    for expect in ("200", "2xx"):
        ok, what = http_verdict(CheckSpec(kind="http", expect=expect), reply)
        assert isinstance(ok, bool) and isinstance(what, str)
    verdict = agent_verdict(reply)
    assert verdict.weight_percent is None or 0 <= verdict.weight_percent <= 256
    pid = parse_pid_reply(reply)
    assert pid is None or pid >= 0


@FUZZ
@given(st.one_of(RAW, st.builds(lambda a, b: b"PROXY TCP4 192.0.2.1 192.0.2.2 " + a + b" " + b
                                + b"\r\n", NUMBER.map(lambda n: n.encode("utf-8", "surrogatepass")),
                                NUMBER.map(lambda n: n.encode("utf-8", "surrogatepass")))))
@example(b"PROXY TCP4 192.0.2.1 192.0.2.2 \xc2\xb9 80\r\n")
@example(b"PROXY TCP4 192.0.2.1 192.0.2.2 " + b"9" * 5000 + b" 80\r\n")
def test_proxy_headers(data: bytes) -> None:
    try:
        proxyproto.decode(data)
    except proxyproto.ProxyError:
        pass


@FUZZ
@given(st.builds(lambda n, m: f"{n} addr 127.0.0.1 port {m} conn {n} max 0 hard 0 weight 1 "
                              f"prio 0 sx 0 rx 0\n{m} 127.0.0.1 {n} sx {n} rx {m}\n", NUMBER, NUMBER),
       st.sampled_from(["servers", "recent", "mode", "status", "pid"]))
def test_penctl_replies(text: str, command: str) -> None:
    replies.parse_servers(text)
    replies.to_data(command, text)
    stats.parse_html(f"<p>{text} servers, {text} current</p><table><tr><td>{text}</td></tr></table>")


@FUZZ
@given(NUMBER)
def test_http_framing_numbers(number: str) -> None:
    """Content-Length and chunk sizes with hostile digits: framed, refused or passed, never raised."""
    value = number.encode("utf-8", "surrogatepass")
    for head in (b"POST / HTTP/1.1\r\nContent-Length: " + value + b"\r\n\r\n",
                 b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + value + b"\r\n"):
        RequestRewriter("192.0.2.1").feed(head)
        RequestRewriter("192.0.2.1", rewrite=False).feed(head)
    t = ResponseTracker()
    t.expect(0)
    t.feed(b"HTTP/1.1 200 OK\r\nContent-Length: " + value + b"\r\n\r\n")


@FUZZ
@given(st.binary(max_size=80), NUMBER)
def test_vrrp_packets_and_addresses(payload: bytes, number: str) -> None:
    try:
        packet.decode(payload, "192.0.2.1", "224.0.0.18")
    except (packet.PacketError, ValueError):
        pass
    for parse in (lambda: parse_server(f"127.0.0.1:{number}", "80"),
                  lambda: parse_server(f"127.0.0.1:80:{number}", "80"),
                  lambda: parse_listen(number), lambda: parse_int(number, "-x")):
        try:
            parse()
        except AddressError:
            pass


@pytest.mark.parametrize("text", HOSTILE_NUMBERS)
def test_numbers_module_on_hostile_text(text: str) -> None:
    """The helpers themselves: ASCII digits of bounded length only, and C's atoi never raises."""
    value = ascii_decimal(text)
    assert value is None or (text.isascii() and text.isdigit() and len(text) <= 19)
    assert ascii_integer(text) is None or text.lstrip("+-").isascii()
    fixed = ascii_fixed(text)
    assert fixed is None or fixed == fixed
    assert isinstance(c_atoi(text), int)


@pytest.mark.parametrize("line", ["acl 1 permit ::1/٣", "acl 1 permit ::1/" + "9" * 5000,
                                  "timeout ٣", "server 0 weight ¹", "queue_timeout nan",
                                  "tls_handshake_timeout 1e3"])
def test_control_numbers_in_other_scripts_are_refused(line: str) -> None:
    interp, _ = make(running=True)
    assert interp.run(line).text.startswith("error: "), line
