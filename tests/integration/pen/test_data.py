"""The data path: byte-identical transfers, half-close, IPv6 and unix sockets (docs/pen.md "Data path")."""
from __future__ import annotations

import asyncio
import hashlib
import os
import random
import socket
import time

import pytest

from support.procs import Backend

# 1 process and --workers 2, each pure Python and with the compiled hot path
pytestmark = pytest.mark.usefixtures("each_worker_count", "each_build")


def test_half_close_client_first_loses_nothing(backends, pen_factory) -> None:
    """A request, then shutdown(SHUT_WR): the whole echo still arrives (C pen lost 2 in 8)."""
    (e,) = backends("echo", "e")
    pen = pen_factory(e.addr)
    for i in range(30):
        payload = os.urandom(1000 + i * 97)
        with pen.connect() as s:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            got = b""
            while chunk := s.recv(65536):
                got += chunk
        assert got == payload


def test_half_close_server_first_keeps_client_direction_open(pen_factory) -> None:
    """The server sends and half-closes; the client can still send, and the server gets it."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    pen = pen_factory(f"127.0.0.1:{lsock.getsockname()[1]}")
    with pen.connect() as c:
        lsock.settimeout(5)
        srv, _ = lsock.accept()
        srv.settimeout(5)
        srv.sendall(b"hello and goodbye")
        srv.shutdown(socket.SHUT_WR)
        got = b""
        while chunk := c.recv(100):
            got += chunk
        assert got == b"hello and goodbye"
        c.sendall(b"late words")
        c.shutdown(socket.SHUT_WR)
        late = b""
        while chunk := srv.recv(100):
            late += chunk
        assert late == b"late words"
        srv.close()
    lsock.close()


async def _transfer(host: str, port: int, payload: bytes) -> tuple[bool, int]:
    reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
    digest = hashlib.sha256()
    received = 0

    async def send() -> None:
        view = memoryview(payload)
        for i in range(0, len(view), 1 << 20):
            writer.write(view[i:i + (1 << 20)])
            await writer.drain()
        writer.write_eof()

    sender = asyncio.create_task(send())
    while True:
        chunk = await reader.read(1 << 20)
        if not chunk:
            break
        digest.update(chunk)
        received += len(chunk)
    await sender
    writer.close()
    return digest.digest() == hashlib.sha256(payload).digest(), received


@pytest.mark.slow
def test_random_payloads_200_concurrent_byte_identical(backends, pen_factory) -> None:
    """200 concurrent connections, payloads from 1 byte to 50 MiB, echoed through pen:
    every byte arrives unchanged in both directions."""
    es = backends("echo", "e1", "e2")
    pen = pen_factory(*[e.addr for e in es], opts=["-r", "-x", "1000"])
    rng = random.Random(20261122)
    sizes = [1, 2, 3, 50 * 1024 * 1024, 10 * 1024 * 1024, 5 * 1024 * 1024]
    sizes += [int(10 ** rng.uniform(0, 6)) for _ in range(194)]     # 1 B .. 1 MB, log-uniform
    blob = os.urandom(max(sizes))
    payloads = [blob[off:off + n] for off, n in ((rng.randrange(0, len(blob) - n + 1), n)
                                                   for n in sizes)]

    async def run() -> list[tuple[bool, int]]:
        return await asyncio.wait_for(
            asyncio.gather(*[_transfer("127.0.0.1", pen.port, p) for p in payloads]), 120)

    t0 = time.monotonic()
    results = asyncio.run(run())
    took = time.monotonic() - t0
    total = sum(sizes)
    bad = [(n, got) for (ok, got), n in zip(results, sizes) if not ok or got != n]
    print(f"200 connections, {total / 2**20:.1f} MiB each way, {took:.1f}s, mismatches {len(bad)}")
    assert not bad


def test_ipv6_client_to_ipv4_server_and_back(pen_factory) -> None:
    """Testsuite item 8: IPv6 -> IPv4 and IPv4 -> IPv6."""
    v4 = Backend("name", "v4")
    v6 = Backend("name", "v6", "--host", "::1")
    try:
        pen6 = pen_factory(v4.addr, host="::1")
        with pen6.connect() as s:
            assert s.makefile("rb").readline() == b"served-by v4\n"
        pen4 = pen_factory(f"[::1]:{v6.port}")
        with pen4.connect() as s:
            assert s.makefile("rb").readline() == b"served-by v6\n"
    finally:
        v4.stop()
        v6.stop()


def test_unix_sockets_on_both_sides(tmp_path, backends) -> None:
    from support.procs import Pen
    sock_path = str(tmp_path / "backend.sock")
    b = Backend("echo", "u", "--unix", sock_path)
    lb = str(tmp_path / "lb.sock")
    pen = Pen(sock_path, listen=lb)
    try:
        c = socket.socket(socket.AF_UNIX)
        c.settimeout(5)
        c.connect(lb)
        c.sendall(b"over unix")
        c.shutdown(socket.SHUT_WR)
        assert c.recv(100) == b"over unix"
        c.close()
    finally:
        pen.stop()
        b.stop()
