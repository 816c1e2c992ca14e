"""Listening sockets: TCP over IPv4/IPv6, unix stream sockets, UDP (docs/pen.md "Addresses")."""
from __future__ import annotations

import os
import socket
import stat

from pen.core.addr import Endpoint
from pen.resolve import resolve_endpoint


def open_listener(ep: Endpoint, udp: bool = False, backlog: int = 500,
                  unix_mode: int | None = None, reuseport: bool = True) -> socket.socket:
    """Bind and listen.  SO_REUSEADDR and SO_REUSEPORT as C pen (so workers can share a port)."""
    if ep.unix:
        _remove_stale_socket(ep.host)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
        try:
            sock.bind(ep.host)
            if unix_mode is not None:
                os.chmod(ep.host, unix_mode)
        except OSError:
            sock.close()
            raise
    else:
        family, _, _, sockaddr = resolve_endpoint(ep, udp=udp, passive=True)
        sock = socket.socket(family, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuseport:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6 and ep.host in ("", "::"):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind(sockaddr)
        except OSError:
            sock.close()
            raise
    if not udp:
        sock.listen(backlog)
    sock.setblocking(False)
    return sock


def _remove_stale_socket(path: str) -> None:
    """C pen removes any existing file at the path; we only remove a socket, never a file."""
    try:
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)
    except FileNotFoundError:
        pass


def bound_port(sock: socket.socket) -> int:
    name = sock.getsockname()
    return name[1] if isinstance(name, tuple) else 0
