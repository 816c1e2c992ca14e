"""A backend whose behaviour the test switches at run time: `python faulty_backend.py PORT`.

Binds 127.0.0.1:PORT (0: any; SO_REUSEADDR so a killed backend can come back on its port),
prints `READY <port>`, then reads commands on stdin, one per line:
  echo    echo every byte; on EOF finish echoing, then close (the normal mode)
  reset   echo the first read, then reset the connection (SO_LINGER 0)
  close   accept and close at once, reading nothing
The mode applies to connections accepted after the command.
"""
from __future__ import annotations

import asyncio
import socket
import struct
import sys

MODE = ["echo"]
LINGER0 = struct.pack("ii", 1, 0)


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    mode = MODE[0]
    sock = writer.get_extra_info("socket")
    try:
        if mode == "close":
            return
        first = True
        while True:
            data = await reader.read(262144)
            if not data:
                writer.write_eof()
                await writer.drain()
                return
            writer.write(data)
            await writer.drain()
            if mode == "reset" and first:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
                return
            first = False
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def commands() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            return
        word = line.decode().strip()
        if word in ("echo", "reset", "close"):
            MODE[0] = word
            print(f"MODE {word}", flush=True)


async def main() -> None:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", int(sys.argv[1])))
    server = await asyncio.start_server(serve, sock=sock, backlog=1024, limit=1 << 20)
    print(f"READY {sock.getsockname()[1]}", flush=True)
    async with server:
        await commands()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
