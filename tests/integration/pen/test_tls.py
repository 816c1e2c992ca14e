"""TLS termination (-E -K, -H over TLS, SNI directory, reload on HUP; pen(1) -E -K)."""
from __future__ import annotations

import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from support.certs import make_cert
from support.procs import wait_for


def tls_get(pen, path: str, server_name: str = "localhost") -> tuple[bytes, dict]:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", pen.port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=server_name) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            data = b""
            while b"\r\n\r\n" not in data or not data.endswith(b"\r\n\r\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            cert = s.getpeercert(binary_form=True)
            return data, {"cert": cert, "version": s.version()}


@pytest.fixture
def certs(tmp_path):
    return make_cert(tmp_path, "localhost")


def test_tls_termination_with_forwarded_proto_https(backends, pen_factory, certs) -> None:
    (h,) = backends("http", "h")
    crt, key = certs
    pen = pen_factory(h.addr, opts=["-E", str(crt), "-K", str(key), "-H"])
    body, info = tls_get(pen, "/tls-test")
    assert b"GET /tls-test HTTP/1.1" in body
    assert b"X-Forwarded-Proto: https\r\nX-Forwarded-For: 127.0.0.1\r\n" in body
    assert info["version"] in ("TLSv1.2", "TLSv1.3")


def test_plain_http_to_the_tls_port_fails_and_pen_keeps_serving(backends, pen_factory, certs) -> None:
    (h,) = backends("http", "h")
    crt, key = certs
    pen = pen_factory(h.addr, opts=["-E", str(crt), "-K", str(key)])
    with pen.connect() as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            got = s.recv(100)
        except ConnectionResetError:
            got = b""
        assert b"HTTP/1.1 200" not in got
    assert b"GET /after" in tls_get(pen, "/after")[0]


def test_big_transfer_over_tls(backends, pen_factory, certs) -> None:
    (e,) = backends("echo", "e")
    crt, key = certs
    pen = pen_factory(e.addr, opts=["-E", str(crt), "-K", str(key)])
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    payload = bytes(range(256)) * 20000          # 5 MB
    # One thread drives the TLS socket, sending and receiving as each side allows: an
    # SSLSocket must not be used from two threads at once.
    import select
    deadline = time.monotonic() + 30
    with socket.create_connection(("127.0.0.1", pen.port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            s.setblocking(False)
            view, sent, got = memoryview(payload), 0, bytearray()
            while len(got) < len(payload) and time.monotonic() < deadline:
                if sent < len(payload):
                    try:
                        sent += s.send(view[sent:sent + 65536])
                    except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                        pass
                try:
                    while chunk := s.recv(1 << 20):
                        got += chunk
                    break                                    # EOF
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    pass
                select.select([s], [s] if sent < len(payload) else [], [], 1)
    assert bytes(got) == payload


def test_sni_directory_and_reload_on_hup(backends, pen_factory, tmp_path, certs) -> None:
    (h,) = backends("http", "h")
    crt, key = certs
    sni = tmp_path / "sni"
    sni.mkdir()
    make_cert(sni, "www.example.test")
    pen = pen_factory(h.addr, opts=["-E", str(crt), "-K", str(key),
                                    "-O", f"ssl_sni_path {sni}"])
    default = tls_get(pen, "/", "localhost")[1]["cert"]
    named = tls_get(pen, "/", "www.example.test")[1]["cert"]
    assert default != named
    assert named == ssl.PEM_cert_to_DER_cert((sni / "www.example.test.crt").read_text())
    # renew the default certificate and HUP: new handshakes get the new one
    make_cert(crt.parent, "localhost")
    pen.signal(signal.SIGHUP)
    new = ssl.PEM_cert_to_DER_cert(crt.read_text())
    assert wait_for(lambda: tls_get(pen, "/", "localhost")[1]["cert"] == new, 5,
                    what="the renewed certificate")


def test_bad_certificate_is_a_startup_error(tmp_path) -> None:
    from support.procs import PEN
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    r = subprocess.run([str(PEN), "-f", "-E", str(bad), "127.0.0.1:1", "127.0.0.1:2"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 1 and "TLS certificate" in r.stderr
