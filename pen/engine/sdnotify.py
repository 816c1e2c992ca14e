"""sd_notify(3) without libsystemd: datagrams to $NOTIFY_SOCKET.

`prepare()` connects before chroot/setuid (the socket path is outside a jail); `notify()`
sends on that connection.
"""
from __future__ import annotations

import os
import socket

_sock: socket.socket | None = None


def prepare() -> None:
    global _sock
    path = os.environ.get("NOTIFY_SOCKET")
    if not path or _sock is not None:
        return
    if path.startswith("@"):
        path = "\0" + path[1:]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    try:
        s.connect(path)
    except OSError:
        s.close()
        return
    _sock = s


def notify(*fields: str) -> bool:
    if _sock is None:
        prepare()
        if _sock is None:
            return False
    try:
        # never block the event loop: a reader that does not keep up (a full queue of 10
        # datagrams, net.unix.max_dgram_qlen) loses a notification, not all traffic (issue 10)
        _sock.send("\n".join(fields).encode(), socket.MSG_DONTWAIT)
    except OSError:
        return False
    return True


def watchdog_interval() -> float | None:
    """Half of WATCHDOG_USEC in seconds, when systemd asked this process for pings."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or not usec.isdigit() or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2e6
