"""sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET."""
from __future__ import annotations

import os
import socket


def notify(*fields: str) -> bool:
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return False
    if path.startswith("@"):
        path = "\0" + path[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.connect(path)
            s.sendall("\n".join(fields).encode())
    except OSError:
        return False
    return True
