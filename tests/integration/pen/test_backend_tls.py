"""TLS to backends, with verification (issue 9)."""
from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from pathlib import Path

import pytest

from support.procs import dead_port


def make_ca_and_server(d: Path, name: str = "localhost") -> tuple[Path, Path, Path]:
    """A CA and a server certificate for `name` (and 127.0.0.1) signed by it."""
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)  # noqa: E731
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", "/CN=test-ca", "-keyout", str(d / "ca.key"), "-out", str(d / "ca.crt"))
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
        "-keyout", str(d / "srv.key"), "-out", str(d / "srv.csr"))
    (d / "ext").write_text(f"subjectAltName=DNS:{name},IP:127.0.0.1\n")
    run("openssl", "x509", "-req", "-in", str(d / "srv.csr"), "-CA", str(d / "ca.crt"),
        "-CAkey", str(d / "ca.key"), "-CAcreateserial", "-days", "2",
        "-extfile", str(d / "ext"), "-out", str(d / "srv.crt"))
    return d / "ca.crt", d / "srv.crt", d / "srv.key"


class TlsEcho:
    """A TLS echo server in a thread (real sockets, real handshakes)."""

    def __init__(self, crt: Path, key: Path) -> None:
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(crt, key)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.addr = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.handshakes = 0
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        while True:
            try:
                raw, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.echo, args=(raw,), daemon=True).start()

    def echo(self, raw: socket.socket) -> None:
        try:
            with self.ctx.wrap_socket(raw, server_side=True) as s:
                self.handshakes += 1
                s.settimeout(10)
                while data := s.recv(1 << 16):
                    s.sendall(data)
        except (OSError, ssl.SSLError):
            pass

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def tls_backend(tmp_path):
    ca, crt, key = make_ca_and_server(tmp_path)
    server = TlsEcho(crt, key)
    yield ca, server
    server.close()


def echo_through(pen, payload: bytes) -> bytes:
    with pen.connect(timeout=10) as s:
        threading.Thread(target=lambda: (s.sendall(payload), None), daemon=True).start()
        got = b""
        while len(got) < len(payload):
            chunk = s.recv(1 << 16)
            if not chunk:
                break
            got += chunk
        return got


def test_tls_to_backend_verified_against_a_ca(tls_backend, pen_factory) -> None:
    ca, server = tls_backend
    pen = pen_factory(server.addr, opts=["-O", "backend_tls", "-O", f"backend_tls_ca {ca}"])
    payload = bytes(range(256)) * 4096           # 1 MiB through TLS to the server
    assert echo_through(pen, payload) == payload
    assert server.handshakes >= 1


def test_unverifiable_backend_is_refused_and_failed_over(tls_backend, backends, pen_factory,
                                                         tmp_path) -> None:
    """No CA given: the self-made CA is not trusted, the handshake fails, pen blacklists the
    server and fails over to a plain one (per-server `tls off`)."""
    _, server = tls_backend
    (plain,) = backends("echo", "plain")
    pen = pen_factory(server.addr, plain.addr, opts=["-O", "prio", "-O", "backend_tls",
                                                     "-O", "server 1 tls off"])
    assert echo_through(pen, b"hello") == b"hello"
    assert "TLS handshake" in pen.errors() or "certificate" in pen.errors().lower()


def test_per_server_tls_and_noverify(tls_backend, pen_factory) -> None:
    _, server = tls_backend
    pen = pen_factory(server.addr, opts=["-O", "server 0 tls on", "-O", "backend_tls_noverify"])
    assert echo_through(pen, b"x" * 70000) == b"x" * 70000


def test_tls_backend_connect_refused_fails_over(tls_backend, pen_factory) -> None:
    ca, server = tls_backend
    pen = pen_factory(f"127.0.0.1:{dead_port()}", server.addr,
                      opts=["-O", "backend_tls", "-O", f"backend_tls_ca {ca}"])
    assert echo_through(pen, b"ping") == b"ping"
