"""The scale lab's backends: one process serving web1..webN, one listening address each.

On connect it writes `NAME PEER\n` (PEER is the connecting balancer node's backend-LAN address,
so a client learns which node *and* which backend served it); then every line it receives comes
back as `NAME PEER LINE\n`, which keeps a connection open and checkable for as long as a test
wants (established connections surviving an ECMP change).

    python3 labbackend.py NAME=ADDR:PORT [NAME=ADDR:PORT ...]
"""
from __future__ import annotations

import asyncio
import sys


async def serve(name: str, host: str, port: int) -> asyncio.base_events.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")[0]
        try:
            writer.write(f"{name} {peer}\n".encode())
            await writer.drain()
            while line := await reader.readline():
                writer.write(f"{name} {peer} {line.decode(errors='replace').strip()}\n".encode())
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port, reuse_address=True, backlog=512)


async def main(specs: list[str]) -> None:
    servers = []
    for spec in specs:
        name, _, addr = spec.partition("=")
        host, _, port = addr.rpartition(":")
        servers.append(await serve(name, host, int(port)))
    print("READY", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    asyncio.run(main(sys.argv[1:]))
