"""pen's log formats (docs/pen.md "Request log (-l)"): built and parsed back."""
from __future__ import annotations

from pen.core.formats.accesslog import (PenEntry, file_line, file_line_conn, is_pen_datagram,
                                net_datagram, parse_datagram, parse_file_line, request_text)


def entry(**kw: object) -> PenEntry:
    base = dict(client="127.0.0.2", client_port=51234, server="127.0.0.1", server_port=8080,
                local_port=40001, epoch=1795315407, request="GET / HTTP/1.1")
    base.update(kw)
    return PenEntry(**base)  # type: ignore[arg-type]


def test_request_text_cuts_at_crlf_and_100_bytes_and_masks() -> None:
    assert request_text(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n") == "GET /a HTTP/1.1"
    assert request_text(b"GET /b\nrest") == "GET /b"
    assert request_text(b"A" * 300) == "A" * 100
    assert request_text(b"GET /\xc3\xa9\t HTTP/1.1\r\n") == "GET /... HTTP/1.1"
    assert request_text(b"") == ""
    # C pen's bytes below 128 as they are, except the control bytes (docs/compatibility.md)
    assert request_text(b"A\tB\x01C\x1bD\x7fE\x80F\x00G") == "A.B.C.D\x7fE.F.G"


def test_file_line_is_c_pen_format() -> None:
    # C pen 0.34.1's -l FILE line, captured: "127.0.0.2 1795315407 127.0.0.1 GET / HTTP/1.1"
    assert file_line(entry()) == "127.0.0.2 1795315407 127.0.0.1 GET / HTTP/1.1\n"


def test_file_line_conn_round_trip() -> None:
    line = file_line_conn(entry())
    assert line == ("127.0.0.2 1795315407 127.0.0.1 GET / HTTP/1.1"
                    "\tconn cport=51234 sport=8080 lport=40001\n")
    assert parse_file_line(line) == entry()


def test_parse_file_line_c_format_has_no_ports() -> None:
    e = parse_file_line("127.0.0.3 1795315408 127.0.0.1 POST /upload HTTP/1.1\n")
    assert e == PenEntry("127.0.0.3", 0, "127.0.0.1", 0, 0, 1795315408, "POST /upload HTTP/1.1")


def test_parse_file_line_rejects_bogus() -> None:
    for bad in ("", "\n", "127.0.0.2 notanumber 127.0.0.1 GET /", "127.0.0.2 17 127.0.0.1",
                "just words"):
        assert parse_file_line(bad) is None, bad


def test_parse_file_line_tab_without_conn_stays_in_request() -> None:
    e = parse_file_line("c 1 s GET /\tnot-conn\n")
    assert e is not None and e.request == "GET /\tnot-conn" and e.local_port == 0


def test_net_datagram_first_line_is_c_format_and_round_trips() -> None:
    d = net_datagram(entry())
    assert d.split(b"\n")[0] == b"+ 127.0.0.2 127.0.0.1 GET / HTTP/1.1"
    assert d == (b"+ 127.0.0.2 127.0.0.1 GET / HTTP/1.1\n"
                 b"conn cport=51234 sport=8080 lport=40001 time=1795315407\n")
    assert is_pen_datagram(d)
    assert parse_datagram(d) == entry()


def test_net_datagram_fits_1024_with_longest_request() -> None:
    e = entry(client="2001:db8::1234:5678:9abc:def0", server="2001:db8::ffff:1:2:3:4",
              request=request_text(b"X" * 500))
    d = net_datagram(e)
    assert len(d) <= 1024 and parse_datagram(d) == e


def test_parse_datagram_c_pen() -> None:
    # C pen 0.34.1's datagram to -l host:port, captured
    e = parse_datagram(b"+ 127.0.0.2 127.0.0.1 GET / HTTP/1.1\n")
    assert e == PenEntry("127.0.0.2", 0, "127.0.0.1", 0, 0, 0, "GET / HTTP/1.1")


def test_parse_datagram_bogus() -> None:
    assert parse_datagram(b"+ malformed") is None
    assert parse_datagram(b"127.0.0.1 - - [x] \"GET /\" 200 1") is None
    assert not is_pen_datagram(b"127.0.0.1 - -")


def test_empty_addresses_keep_the_fields_apart() -> None:
    e = entry(client="")
    assert file_line(e).startswith("- 1795315407 127.0.0.1 ")
    assert parse_file_line(file_line(e)) is not None
