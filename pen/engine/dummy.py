"""penctl `dummy`: pen answers every client chunk itself, then closes (penctl(1) `dummy`)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from pen.engine.reactor import EPOLLIN

if TYPE_CHECKING:
    from pen.engine.conn import Conn

RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Length: 15\r\nContent-Type: text/html\r\n\r\n"
            b"Ulric was here.")


def serve_dummy(conn: Conn) -> None:
    def on_event(ev: int) -> None:
        try:
            data = conn.down.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            try:
                conn.down.send(RESPONSE)
            except OSError:
                pass
        conn.close()

    conn.reactor.remove(conn.dfd)
    conn.reactor.add(conn.dfd, EPOLLIN, on_event)
