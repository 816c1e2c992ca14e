"""-H against a real nginx 1.22 (Debian nginx-light): a corpus of hostile streams replayed
through pen, and nginx's own access log says which requests it served with which
X-Forwarded-For.  The guarantee (docs/pen.md, HTTP mode): every request nginx served carries
pen's view of the client as the last X-Forwarded-For value."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest

from support.procs import Pen, stop_process, wait_for

NGINX = Path("/usr/sbin/nginx")
pytestmark = pytest.mark.skipif(not NGINX.exists(), reason="nginx-light is not installed")

CLIENT = "127.0.0.5"
SPOOF = b"203.0.113.66"


def req(uri: bytes, *fields: bytes, line: bytes | None = None, body: bytes = b"") -> bytes:
    first = line if line is not None else b"GET " + uri + b" HTTP/1.1"
    return b"\r\n".join([first, b"Host: h", *fields, b"", b""]) + body


SMUGGLED = req(b"/smuggled", b"X-Forwarded-For: " + SPOOF)

CORPUS: dict[str, bytes] = {
    "plain": req(b"/plain"),
    "spoofed xff": req(b"/spoofed", b"X-Forwarded-For: " + SPOOF),
    "two xff fields": req(b"/two", b"X-Forwarded-For: " + SPOOF, b"x-forwarded-for: 10.9.9.9"),
    "pipelined": req(b"/p1") + req(b"/p2") + req(b"/p3", b"X-Forwarded-For: " + SPOOF),
    "extra spaces": req(b"", line=b"GET  /spaces  HTTP/1.1") + SMUGGLED,
    "trailing spaces": req(b"", line=b"GET /trailing HTTP/1.1  ") + SMUGGLED,
    "long method": req(b"", line=b"A" * 40 + b" /longmethod HTTP/1.1") + SMUGGLED,
    "version 1.01": req(b"", line=b"GET /v101 HTTP/1.01") + SMUGGLED,
    "version 01.1": req(b"", line=b"GET /v011 HTTP/01.1") + SMUGGLED,
    "version 2.0": req(b"", line=b"GET /v20 HTTP/2.0") + SMUGGLED,
    "http/0.9": b"GET /nine\r\n" + SMUGGLED,
    "zero-padded length": req(b"/zcl", b"Content-Length: 00000000000000000000" + b"%d" % len(SMUGGLED),
                              line=b"POST /zcl HTTP/1.1", body=SMUGGLED) + req(b"/after-zcl"),
    "zero-padded chunk": req(b"", b"Transfer-Encoding: chunked", line=b"POST /zchunk HTTP/1.1")
    + b"0000000000000000000000%x\r\n" % len(SMUGGLED) + SMUGGLED + b"\r\n0\r\n\r\n" + req(b"/after-zchunk"),
    "control bytes in chunk extension": req(b"", b"Transfer-Encoding: chunked",
                                            line=b"POST /ctlext HTTP/1.1")
    + b"%x;\x01\x7f\r\n" % len(SMUGGLED) + SMUGGLED + b"\r\n0\r\n\r\n" + SMUGGLED,
    "upgrade without 101": req(b"/up", b"Upgrade: websocket", b"Connection: Upgrade") + SMUGGLED,
    "connect": b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n" + SMUGGLED,
    "space before colon": req(b"", b"Content-Length : %d" % len(SMUGGLED), line=b"POST /wsc HTTP/1.1",
                              body=SMUGGLED),
    "xff space before colon": req(b"/xffwsc", b"X-Forwarded-For : " + SPOOF),
    "obs-fold": req(b"/fold", b"X-Forwarded-For: 10.1.1.1", b" " + SPOOF) + SMUGGLED,
    "bare cr": req(b"/cr", b"X-A: a\rContent-Length: 5") + SMUGGLED,
    "duplicate length": req(b"", b"Content-Length: 0", b"Content-Length: %d" % len(SMUGGLED),
                            line=b"POST /dup HTTP/1.1", body=SMUGGLED),
    "te and cl": req(b"", b"Transfer-Encoding: chunked", b"Content-Length: 3",
                     line=b"POST /tecl HTTP/1.1", body=b"0\r\n\r\n" + SMUGGLED),
    "oversized head": req(b"/big", b"X-Pad: " + b"p" * 70_000) + SMUGGLED,
    "oversized chunk extension": req(b"", b"Transfer-Encoding: chunked", line=b"POST /bigext HTTP/1.1")
    + b"5;" + b"e" * 70_000 + b"\r\nabcde\r\n0\r\n\r\n" + SMUGGLED,
    "lf only": b"GET /lf HTTP/1.1\nHost: h\n\n" + SMUGGLED,
    "tls-looking first bytes": b"\x16\x03\x01\x00\x05hello",
}


def start_nginx(tmp: Path) -> tuple[subprocess.Popen, int, Path]:
    d = tmp / "nginx"
    d.mkdir()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    log = tmp / "access.log"
    (d / "nginx.conf").write_text(f"""
daemon off; master_process on; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log;
events {{ worker_connections 256; }}
http {{
  log_format xff '$status|$request_method|$request_uri|$http_x_forwarded_for';
  access_log {log} xff;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi;
  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  server {{ listen 127.0.0.1:{port}; location / {{ return 200 "ok\\n"; }} }}
}}
""")
    proc = subprocess.Popen([str(NGINX), "-p", str(d), "-c", str(d / "nginx.conf"), "-e",
                             str(d / "error.log")], env=dict(os.environ, NGINX=f"{sock.fileno()};"),
                            pass_fds=[sock.fileno()], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    sock.close()
    return proc, port, log


def replay(pen: Pen, data: bytes) -> bytes:
    """One connection: send, half-close, read until pen or nginx closes."""
    with pen.connect(timeout=10, source=CLIENT) as s:
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass                      # refused mid-send (a 431): what came back still counts
        got = b""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            got += chunk
        return got


def test_every_request_nginx_served_has_pens_xff_last(tmp_path: Path) -> None:
    nginx, port, log = start_nginx(tmp_path)
    try:
        wait_for(lambda: log.exists(), 10, what="nginx up")
        with Pen(f"127.0.0.1:{port}", opts=["-H"]) as pen:
            answers = {name: replay(pen, data) for name, data in CORPUS.items()}
        time.sleep(0.5)                             # nginx writes its log line after replying
        logged = [ln.split("|", 3) for ln in log.read_text().splitlines()]
        served = [f for f in logged if int(f[0]) < 400]    # nginx's own 400/505: nothing served
    finally:
        stop_process(nginx)
    bad = [s for s in served if s[3].rsplit(",", 1)[-1].strip() != CLIENT]
    refused = sorted(n for n, a in answers.items()          # pen's own refusal, not nginx's
                     if re.search(rb"\r\n\r\n(400 Bad Request|431 Request Header Fields Too Large)\r\n$", a))
    print(f"SUMMARY nginx corpus: {len(CORPUS)} streams, {len(served)} requests served by nginx "
          f"({len(logged) - len(served)} refused by nginx), {len(bad)} without pen's address "
          f"last; refused by pen: {', '.join(refused)}")
    assert not bad, bad
    uris = {s[2] for s in served}
    # what nginx and pen both frame is served (and the smuggled bytes were body, not requests)
    for uri in ("/plain", "/spoofed", "/two", "/p1", "/p2", "/p3", "/spaces", "/trailing",
                "/longmethod", "/v101", "/zcl", "/after-zcl", "/zchunk", "/after-zchunk",
                "/ctlext", "/up", "/lf"):
        assert uri in uris, (uri, sorted(uris))
    # and pen refused what it cannot frame the way every server would
    for name in ("space before colon", "obs-fold", "bare cr", "duplicate length", "te and cl",
                 "oversized head", "http/0.9"):
        assert name in refused, name
