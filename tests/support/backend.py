"""Test backends, run as separate processes: `python -m support.backend MODE NAME [--udp]`.

Binds 127.0.0.1 port 0 (or --host), prints `READY <port>` on stdout, serves until killed.
Modes:
  name   answer every connection with `served-by NAME\\n`, then read until EOF and close
  echo   echo every byte back; on EOF, finish echoing and close (half-close aware)
  http   HTTP/1.1 keep-alive server: the response body is `NAME\\n` followed by the request
         head as received (so tests can see X-Forwarded-For)
  udp    (with --udp) reply `NAME got PAYLOAD` to every datagram
  hold   accept and never answer (holds connections open)
"""
from __future__ import annotations

import argparse
import asyncio
import sys


async def serve_name(name: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(f"served-by {name}\n".encode())
    await writer.drain()
    while await reader.read(65536):
        pass
    writer.close()


async def serve_echo(name: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await reader.read(262144)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        writer.write_eof()
        await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def serve_http(name: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await reader.readexactly(length)
            body = f"{name}\n".encode() + head
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: text/plain\r\n\r\n"
                         % len(body) + body)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def serve_upgrade(name: str, reader: asyncio.StreamReader,
                        writer: asyncio.StreamWriter) -> None:
    """Like http, but a request whose path starts with /switch and has an Upgrade field gets a
    101 and the connection becomes an echo; other Upgrade requests are served as plain HTTP."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            if head.startswith(b"GET /switch") and b"\nupgrade:" in head.lower():
                writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\n"
                             b"Connection: Upgrade\r\n\r\n")
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
                return
            body = f"{name}\n".encode() + head
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def serve_hold(name: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while await reader.read(65536):
        pass
    writer.close()


class UdpEcho(asyncio.DatagramProtocol):
    def __init__(self, name: str) -> None:
        self.name = name

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self.transport.sendto(f"{self.name} got ".encode() + data, addr)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["name", "echo", "http", "udp", "hold", "upgrade"])
    ap.add_argument("name")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--unix")
    args = ap.parse_args()
    loop = asyncio.get_running_loop()
    if args.mode == "udp":
        transport, _ = await loop.create_datagram_endpoint(
            lambda: UdpEcho(args.name), local_addr=(args.host, args.port))
        port = transport.get_extra_info("sockname")[1]
        print(f"READY {port}", flush=True)
        await asyncio.Event().wait()
    handler = {"name": serve_name, "echo": serve_echo, "http": serve_http,
               "hold": serve_hold, "upgrade": serve_upgrade}[args.mode]
    cb = lambda r, w: handler(args.name, r, w)  # noqa: E731
    if args.unix:
        server = await asyncio.start_unix_server(cb, path=args.unix, limit=1 << 20)
        port = 0
    else:
        server = await asyncio.start_server(cb, args.host, args.port, limit=1 << 20,
                                            backlog=1024, reuse_address=True)
        port = server.sockets[0].getsockname()[1]
    print(f"READY {port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
