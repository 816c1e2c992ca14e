"""HTTP mode (-H): X-Forwarded-For/-Proto on every request of a connection (§1.8)."""
from __future__ import annotations

import socket


def read_response(f) -> bytes:
    """One HTTP/1.1 response with Content-Length from a file object; returns the body."""
    length = 0
    while (line := f.readline()) not in (b"\r\n", b""):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return f.read(length)


def test_xff_on_every_keepalive_and_pipelined_request(backends, pen_factory) -> None:
    (h,) = backends("http", "h")
    pen = pen_factory(h.addr, opts=["-H"])
    with pen.connect(source="127.0.0.7") as s:
        f = s.makefile("rb")
        s.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        first = read_response(f)
        # the next head split over three sends, then two pipelined requests in one send
        for part in (b"POST /b HTTP/1.1\r\nHo", b"st: x\r\nContent-Length: 5\r\n", b"\r\nhello"):
            s.sendall(part)
        second = read_response(f)
        s.sendall(b"GET /c HTTP/1.1\r\nHost: x\r\n\r\nPUT /d HTTP/1.1\r\nHost: x\r\n"
                  b"X-Forwarded-For: 203.0.113.9\r\nContent-Length: 0\r\n\r\n")
        third, fourth = read_response(f), read_response(f)
    for body, path in ((first, b"/a"), (second, b"/b"), (third, b"/c")):
        assert path in body
        assert body.endswith(b"X-Forwarded-Proto: http\r\nX-Forwarded-For: 127.0.0.7\r\n\r\n")
    assert b"X-Forwarded-For: 203.0.113.9, 127.0.0.7\r\n" in fourth   # appended, not trusted
    assert fourth.count(b"X-Forwarded-Proto: http") == 1


def test_non_http_stream_passes_untouched(backends, pen_factory) -> None:
    (e,) = backends("echo", "e")
    pen = pen_factory(e.addr, opts=["-H"])
    payload = bytes(range(256)) * 64
    with pen.connect() as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        got = b""
        while chunk := s.recv(65536):
            got += chunk
    assert got == payload


def test_without_h_nothing_is_added(backends, pen_factory) -> None:
    (h,) = backends("http", "h")
    pen = pen_factory(h.addr)
    with pen.connect() as s:
        s.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        body = read_response(s.makefile("rb"))
    assert b"X-Forwarded" not in body
