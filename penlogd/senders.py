"""Which datagram senders penlogd listens to (docs/penlogd.md "Senders").

C penlogd accepts a datagram from anyone (its UDP input is unauthenticated and can be
spoofed: docs/penlogd.md "Senders"); ours only from the configured networks, loopback by
default.  Pure.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
DEFAULT_ALLOW = ("127.0.0.0/8", "::1/128")


def parse_networks(texts: tuple[str, ...] | list[str]) -> list[Network]:
    """`ADDR` or `ADDR/PREFIX` each; `any` allows everyone (C's behaviour).  ValueError names the bad one."""
    nets: list[Network] = []
    for text in texts:
        if text == "any":
            nets += [ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")]
            continue
        try:
            nets.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError(f"bad sender address or network '{text}'") from None
    return nets


@dataclass(slots=True)
class Senders:
    """The allow list, and a per-address count of refused datagrams (to warn without flooding)."""

    networks: list[Network]
    refused: dict[str, int] = field(default_factory=dict)

    def allowed(self, addr: str) -> bool:
        try:
            a = ipaddress.ip_address(addr.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(a, ipaddress.IPv6Address) and a.ipv4_mapped is not None:
            a = a.ipv4_mapped
        return any(a.version == n.version and a in n for n in self.networks)

    def refuse(self, addr: str) -> bool:
        """Count a refused datagram; True when it deserves a warning (1st, 10th, 100th ...)."""
        n = self.refused.get(addr, 0) + 1
        self.refused[addr] = n
        return n in (1, 10, 100, 1000) or n % 10000 == 0
