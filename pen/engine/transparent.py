"""Transparent mode: upstream connections carry the client's address (docs/dataplane.md
"Transparent mode").

C pen sets IP_TRANSPARENT (Linux) on each upstream socket and binds it to the client's IPv4
address with port 0, so the backend sees the real client.  The replies must come back to this
host: the backends route the client networks via pen, and pen's host delivers those packets
locally (policy routing to a `local` route table, or nftables/iptables TPROXY marks; see
docs/dataplane.md).  It needs CAP_NET_ADMIN.  If the bind fails, pen logs it at debug level
and connects from its own address, as C pen does.
"""
from __future__ import annotations

import ipaddress
import logging
import socket

log = logging.getLogger("pen")

IP_TRANSPARENT = getattr(socket, "IP_TRANSPARENT", 19)     # linux/in.h


def client_ipv4(host: str) -> str | None:
    """The client's IPv4 address (also from an IPv4-mapped IPv6 one), or None."""
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address):
        mapped = addr.ipv4_mapped
        return str(mapped) if mapped is not None else None
    return str(addr)


def bind_to_client(sock: socket.socket, host: str) -> bool:
    """IP_TRANSPARENT and bind(client, 0); False (and a debug line) when it cannot be done."""
    v4 = client_ipv4(host)
    if v4 is None:
        return False
    try:
        sock.setsockopt(socket.SOL_IP, IP_TRANSPARENT, 1)
        sock.bind((v4, 0))
    except OSError as e:
        log.debug("transparent: cannot bind upstream socket to %s: %s; connecting from our "
                  "own address", v4, e.strerror)
        return False
    return True
