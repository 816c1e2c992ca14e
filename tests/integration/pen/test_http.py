"""HTTP mode (-H): X-Forwarded-For/-Proto on every request of a connection (pen(1) -H)."""
from __future__ import annotations

import json
import socket
import threading

import pytest

from support.control import cmd, start_pen
from support.procs import wait_for


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


def read_head(f) -> bytes:
    head = b""
    while (line := f.readline()) not in (b"\r\n", b""):
        head += line
    return head


def test_upgrade_the_server_ignores_does_not_open_a_passthrough(backends, pen_factory) -> None:
    """Issue 18: an Upgrade answered with 200, then a request with a spoofed X-Forwarded-For:
    that request must still carry pen's view of the client last."""
    (u,) = backends("upgrade", "u")
    pen = pen_factory(u.addr, opts=["-H"])
    with pen.connect(source="127.0.0.7") as s:
        f = s.makefile("rb")
        s.sendall(b"GET /ignored HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
                  b"GET /admin HTTP/1.1\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n")
        first, second = read_response(f), read_response(f)
    assert b"/ignored" in first and b"X-Forwarded-For: 127.0.0.7\r\n" in first
    assert b"/admin" in second and b"X-Forwarded-For: 10.0.0.1, 127.0.0.7\r\n" in second


def test_upgrade_with_101_passes_through(backends, pen_factory) -> None:
    (u,) = backends("upgrade", "u")
    pen = pen_factory(u.addr, opts=["-H"])
    with pen.connect() as s:
        f = s.makefile("rb")
        tunnelled = b"GET /inside HTTP/1.1\r\n\r\n"   # the new protocol's bytes: untouched
        s.sendall(b"GET /plain HTTP/1.1\r\n\r\nGET /switch HTTP/1.1\r\nUpgrade: echo\r\n\r\n"
                  + tunnelled)
        assert b"/plain" in read_response(f)
        assert read_head(f).startswith(b"HTTP/1.1 101 ")
        assert f.read(len(tunnelled)) == tunnelled


@pytest.mark.parametrize("fastclose", ["off", "both"])
def test_request_pen_cannot_frame_is_answered_400(backends, pen_factory, fastclose) -> None:
    """Also with tcp_fastclose: pen's own refusal is not the client closing."""
    (h,) = backends("http", "h")
    pen = pen_factory(h.addr, opts=["-H", "-O", f"tcp_fastclose {fastclose}"])
    with pen.connect() as s:
        f = s.makefile("rb")
        s.sendall(b"GET /ok HTTP/1.1\r\n\r\n"
                  b"POST /x HTTP/1.1\r\nContent-Length : 30\r\n\r\n"
                  b"GET /smuggled HTTP/1.1\r\n\r\n")
        assert b"/ok" in read_response(f)
        head = read_head(f)
        assert head.startswith(b"HTTP/1.1 400 Bad Request\r\n")
        read_response_body = f.read()
    assert b"smuggled" not in read_response_body


def test_oversized_head_is_answered_431(backends, pen_factory) -> None:
    (h,) = backends("http", "h")
    pen = pen_factory(h.addr, opts=["-H"])
    with pen.connect() as s:
        s.sendall(b"GET / HTTP/1.1\r\nX-Pad: " + b"p" * 70000 + b"\r\n\r\n")
        head = read_head(s.makefile("rb"))
    assert head.startswith(b"HTTP/1.1 431 ")


def test_client_half_close_before_the_101_loses_nothing(backends, pen_factory) -> None:
    (u,) = backends("upgrade", "u")
    pen = pen_factory(u.addr, opts=["-H"])
    with pen.connect() as s:
        f = s.makefile("rb")
        s.sendall(b"GET /switch HTTP/1.1\r\nUpgrade: echo\r\n\r\nearly bytes")
        s.shutdown(socket.SHUT_WR)
        assert read_head(f).startswith(b"HTTP/1.1 101 ")
        assert f.read() == b"early bytes"


REFUSAL_400 = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 17\r\n"
               b"Connection: close\r\n\r\n400 Bad Request\r\n")


def refused_after_a_spliced_body(pen, ctl: str, backend: socket.socket) -> bytes:
    """One client: GET, a close-delimited 64 MiB body it reads until pen splices, then pauses
    on until pen's pipe holds more than the client's buffer can take; then a request pen
    cannot frame.  Returns everything the client got, to EOF."""
    body = b"b" * (64 << 20)
    server: list[socket.socket] = []

    def serve() -> None:
        s, _ = backend.accept()
        server.append(s)
        s.settimeout(10)
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(4096)
        try:   # no Content-Length: the body runs until the server closes
            s.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body)
        except OSError:
            pass        # pen stops reading it once it refuses the client's next request

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    got = bytearray()
    seen = [-1]
    c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)     # fixed: it fills
    c.settimeout(10)

    def piped() -> bool:
        """More than two reads (256 KiB each) wait towards the client, so they are in the
        pipe, and stay there (the client's buffer is full): twice the same count."""
        pending = max([v["pending_down"]
                       for v in json.loads(cmd(ctl, "snapshot_json"))["connections"]] or [0])
        if pending > 512 * 1024:
            stuck, seen[0] = pending == seen[0], pending
            return stuck
        # pen splices from its first full read on, which needs its receive buffer grown (the
        # kernel grows it for a reader that keeps up): read a burst fast, then pause again
        goal = len(got) + (4 << 20)
        while len(got) < goal:
            got.extend(c.recv(1 << 20))
        return False
    try:
        c.connect(("127.0.0.1", pen.port))
        c.sendall(b"GET /big HTTP/1.1\r\nHost: h\r\n\r\n")
        wait_for(piped, 10, 0.02, "a spliced response waiting in pen's pipe")
        c.sendall(b"POST /x HTTP/1.1\r\nContent-Length : 30\r\n\r\n")
        while chunk := c.recv(1 << 20):
            got += chunk
    finally:
        c.close()
        for s in server:
            try:
                s.shutdown(socket.SHUT_RDWR)   # wakes the backend thread's sendall
            except OSError:
                pass                           # pen has closed it already
        thread.join(5)
        for s in server:
            s.close()
    return bytes(got)


def test_a_refusal_follows_a_spliced_response_to_the_client(tmp_path) -> None:
    """-H: the server's close-delimited body is bulk, so pen splices it towards the client
    through a pipe; a request pen cannot frame arrives while that pipe still holds bytes the
    client has not read.  The 400 must still reach the client, after those bytes, before pen
    closes (it was dropped: Conn._refuse_now appended only to a bytes buffer).  Five clients:
    the client's window may open as it sends, letting pen empty the pipe before it reads the
    request (about one time in three), and then the old code answered too."""
    backend = socket.socket()
    backend.bind(("127.0.0.1", 0))
    backend.listen(1)
    backend.settimeout(10)
    pen, ctl = start_pen(tmp_path, f"127.0.0.1:{backend.getsockname()[1]}", opts=["-H"])
    try:
        for _ in range(5):
            got = refused_after_a_spliced_body(pen, ctl, backend)
            head, _, rest = got.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 OK\r\n")
            assert rest.endswith(REFUSAL_400), rest[-200:]
            assert rest[:-len(REFUSAL_400)].strip(b"b") == b""   # before it: the body, in order
    finally:
        backend.close()
        pen.stop()
