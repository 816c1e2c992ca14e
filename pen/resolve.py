"""Name resolution for listen addresses and server specs (the I/O half of pen.core.addr)."""
from __future__ import annotations

import socket

from pen.core.addr import AddressError, Endpoint
from pen.core.numbers import ascii_decimal


def resolve_port(port: str, udp: bool) -> int:
    number = ascii_decimal(port, 5)
    if number is not None:
        return number
    try:
        return socket.getservbyname(port, "udp" if udp else "tcp")
    except OSError:
        raise AddressError(f"unknown service '{port}'") from None


def resolve_endpoint(ep: Endpoint, udp: bool = False,
                     passive: bool = False) -> tuple[int, str, int, tuple | str]:
    """(family, address text, port, sockaddr); getaddrinfo's first result, as C pen (docs/pen.md
    "Addresses")."""
    if ep.unix:
        return socket.AF_UNIX, ep.host, 1, ep.host
    port = resolve_port(ep.port, udp)
    host = ep.host or None
    flags = socket.AI_ADDRCONFIG | (socket.AI_PASSIVE if passive else 0)
    kind = socket.SOCK_DGRAM if udp else socket.SOCK_STREAM
    try:
        infos = socket.getaddrinfo(host, port, 0, kind, 0, flags)
    except socket.gaierror:
        try:   # AI_ADDRCONFIG hides ::1 on hosts without a v6 address other than lo
            infos = socket.getaddrinfo(host, port, 0, kind, 0,
                                       socket.AI_PASSIVE if passive else 0)
        except socket.gaierror as e:
            raise AddressError(f"unknown or invalid address [{ep.host}]: {e.strerror}") from None
    family, _, _, _, sockaddr = infos[0]
    return family, str(sockaddr[0]), port, sockaddr   # an IP text for AF_INET/AF_INET6
