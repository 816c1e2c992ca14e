"""`--metrics-listen [HOST:]PORT`: GET /metrics (Prometheus text) and GET /status.json.

A tiny HTTP/1.0 responder on the agent's event loop: one request per connection, bounded
in size and time, answered from penvrrp.core.metrics; it never blocks an advert.
"""
from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

from penvrrp.core import metrics
from penvrrp.core.penprobe import split_address

log = logging.getLogger("penvrrp")
MAX_REQUEST = 8192
REQUEST_TIMEOUT = 5.0


class MetricsServer:
    def __init__(self, listen: str, instances: Callable[[], list[dict[str, Any]]], node: str | None = None) -> None:
        self.listen = listen
        self.node = node or socket.gethostname()
        self.instances = instances
        self.server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        host, port = split_address(self.listen, default_host="127.0.0.1")
        self.server = await asyncio.start_server(self._client, host, port, reuse_address=True,
                                                 limit=MAX_REQUEST)
        log.info("metrics on http://%s/metrics and /status.json", self.listen)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    def answer(self, request_line: bytes) -> tuple[str, str, str]:
        """(status, content type, body) for one request line."""
        words = request_line.decode("latin-1").split()
        if len(words) < 2:
            return "400 Bad Request", "text/plain", "bad request\n"
        method, target = words[0], words[1].split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            return "405 Method Not Allowed", "text/plain", "only GET\n"
        if target == "/metrics":
            return "200 OK", metrics.CONTENT_TYPE, metrics.prometheus(self.instances(), self.node)
        if target == "/status.json":
            return "200 OK", "application/json", metrics.status_json(self.node, self.instances())
        return "404 Not Found", "text/plain", "not found: try /metrics or /status.json\n"

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
            status, ctype, body = self.answer(head.split(b"\r\n", 1)[0])
            data = body.encode()
            method = head.split(b" ", 1)[0]
            writer.write(f"HTTP/1.0 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(data)}\r\n"
                         "Connection: close\r\n\r\n".encode() + (b"" if method == b"HEAD" else data))
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()
