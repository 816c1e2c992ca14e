"""Seamless restart: a new pen takes the listening socket from the running one.

    pen --takeover /run/pen/pen.ctl [the usual options] LISTEN SERVER...

The new pen connects to the old pen's unix control socket and sends `takeover`; the old pen
answers `TAKEOVER <listen address>` with the listening socket attached (SCM_RIGHTS), stops
accepting, lets its open connections finish, and exits when the last one closes (or after
`drain_timeout`).  The socket is never closed in between, so clients queued in its backlog are
accepted by one pen or the other: no connection is refused or reset during an upgrade.
"""
from __future__ import annotations

import logging
import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pen.engine.balancer import Balancer

log = logging.getLogger("pen")
REQUEST = b"takeover\n"
DRAIN_TIMEOUT = 300.0


class TakeoverError(Exception):
    pass


def request(control_path: str, timeout: float = 10.0) -> tuple[socket.socket, str]:
    """New pen: fetch the listening socket from the running pen."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            s.connect(control_path)
            s.sendall(REQUEST)
            msg, fds, _, _ = socket.recv_fds(s, 4096, 1)
        except OSError as e:
            raise TakeoverError(f"takeover from {control_path}: {e.strerror or e}") from None
    text = msg.decode("utf-8", "replace").strip()
    if not fds or not text.startswith("TAKEOVER "):
        for fd in fds:
            socket.close(fd)
        raise TakeoverError(f"takeover from {control_path}: refused: {text or 'no reply'}")
    sock = socket.socket(fileno=fds[0])
    sock.setblocking(False)
    return sock, text.split(" ", 1)[1]


def hand_over(bal: Balancer, conn: socket.socket) -> bool:
    """Old pen: send the listening socket, stop accepting, finish, exit."""
    lsock = bal.listen_sock
    if lsock is None or conn.family != socket.AF_UNIX or not bal.accepts_here:
        why = (b"not with --workers" if not bal.accepts_here
               else b"needs a listener and a unix control socket")
        try:
            conn.sendall(b"takeover refused: " + why + b"\n")
        except OSError:
            pass
        return False
    try:
        socket.send_fds(conn, [f"TAKEOVER {bal.listen_text}\n".encode()], [lsock.fileno()])
    except OSError as e:
        log.error("takeover: could not pass the listening socket: %s", e)
        return False
    log.warning("takeover: listening socket handed over; finishing %d connections", bal.nconns)
    bal.close_listener()
    bal.handed_over = True
    bal.reactor.call_later(DRAIN_TIMEOUT, bal.reactor.stop)
    _exit_when_idle(bal)
    return True


def _exit_when_idle(bal: Balancer) -> None:
    def check() -> None:
        if bal.nconns == 0:
            log.warning("takeover: last connection finished; exiting")
            bal.reactor.stop()
    bal.reactor.every(0.1, check)
