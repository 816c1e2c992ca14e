"""The server table (pen(1) SYNOPSIS for max and hard, -b, -t, -e; docs/pen.md "How a server
is chosen").

Two hidden slots sit beside the real servers: the emergency server (-e) and the abuse server
(-B).  A server is *blacklisted* while `now - status < blacklist_time`, as in C pen, so a change
of the blacklist time applies retroactively and `server N blacklist T` sets
`status = now + T - blacklist_time`.  Time is whatever clock the caller feeds (monotonic).
"""
from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Final

from pen.core.health import CheckSpec, HealthState

# Final: inlined by a compiled module (scripts/compile.sh), not looked up by name on each use
NO_SERVER: Final = -3
EMERGENCY: Final = -1
ABUSE: Final = -2
DROP: Final = -4          # the client is denied and there is no abuse server: close it
# `server N` beyond this is refused (C pen allocated gigabytes: docs/compatibility.md)
MAX_SERVERS: Final = 4096

NEVER: Final = float("-inf")


@dataclass(slots=True)
class Server:
    index: int
    family: int = 0                       # 0 = unset, socket.AF_INET / AF_INET6 / AF_UNIX
    host: str = ""                        # address text, or the unix path
    port: int = 0
    sockaddr: tuple | str | None = None   # what connect() takes
    maxc: int = 0
    hard: int = 0
    weight: int = 0
    prio: int = 0
    acl: int = 0
    blacklisted_at: float = NEVER         # when it last failed: C pen's `status` (pen(1) -b)
    retried_at: float = NEVER             # when `retry_servers` forgave its failures
    c: int = 0                            # established connections
    pending: int = 0                      # connects in progress
    sx: int = 0                           # bytes read from clients for this server
    rx: int = 0                           # bytes read from this server
    total: int = 0                        # connections ever established
    failures: int = 0                     # connect failures and timeouts
    drain: bool = False                   # no new connections (pen-ha extension)
    drain_sticky: bool = False            # ... except from clients tracked to this server
    check: CheckSpec | None = None        # active health check (pen-ha extension)
    health: HealthState | None = None
    agent_weight: int | None = None       # weight percentage reported by an agent check
    send_proxy: int = -1                  # PROXY version for this server; -1 = the global one
    tls: int = -1                         # TLS to this server: 1 on, 0 off, -1 the global one

    def down(self) -> bool:
        """Marked down by its health check."""
        return self.health is not None and not self.health.up

    def effective_weight(self) -> int:
        if self.agent_weight is None:
            return self.weight
        return self.weight * self.agent_weight // 100

    @property
    def configured(self) -> bool:
        return self.family != 0 and self.sockaddr is not None

    def has_address(self) -> bool:
        """False for the "removed" idiom: address 0.0.0.0 / :: / unset (penctl(1) `server`).

        C pen forgot this check for server 0; here it holds for every server.
        """
        return self.configured and self.host not in ("0.0.0.0", "::") and self.port != 0

    def state_word(self, now: float, blacklist_time: float) -> str:
        """What `server_state`, webstats and `serving` call its state, first match wins."""
        if not self.has_address():
            return "unused"
        if self.down():
            return "down"
        if self.blacklisted(now, blacklist_time):
            return "blacklisted"
        if self.drain:
            return "draining"
        if self.maxc and self.load() >= self.maxc:
            return "full"
        return "up"

    def blacklisted(self, now: float, blacklist_time: float) -> bool:
        return now - self.blacklisted_at < blacklist_time

    def blacklist_left(self, now: float, blacklist_time: float) -> float:
        return max(0.0, self.blacklisted_at + blacklist_time - now)

    def load(self) -> int:
        """Connections counted against the limits: established plus in progress.

        C pen counted only established ones, so bursts overshot the limits (pen(1) SYNOPSIS,
        max and hard; docs/compatibility.md).
        """
        return self.c + self.pending

    def address_text(self) -> str:
        """The `addr` field of `servers`; C's text for a never-configured slot (penctl(1)
        `servers`)."""
        if self.family == 0:
            return "(unknown address family 0"
        return self.host

    def set_address(self, family: int, host: str, port: int,
                    sockaddr: tuple | str | None) -> None:
        """None: no address (the "removed" idiom, or one not resolved yet)."""
        self.family, self.host, self.port, self.sockaddr = family, host, port, sockaddr

    def reset_limits(self, maxc: int, hard: int, weight: int, prio: int) -> None:
        self.maxc, self.hard, self.weight, self.prio = maxc, hard, weight, prio


@dataclass(slots=True)
class ServerTable:
    servers: list[Server] = field(default_factory=list)
    emergency: Server | None = None
    abuse: Server | None = None

    def __len__(self) -> int:
        return len(self.servers)

    def get(self, index: int) -> Server | None:
        if index >= 0:
            return self.servers[index] if index < len(self.servers) else None
        if index == EMERGENCY:
            return self.emergency
        if index == ABUSE:
            return self.abuse
        return None

    def ensure(self, index: int) -> Server:
        """Server `index`, creating it and every missing slot below it (penctl `server N`)."""
        if not 0 <= index < MAX_SERVERS:
            raise IndexError(f"server {index} out of range (0-{MAX_SERVERS - 1})")
        while len(self.servers) <= index:
            self.servers.append(Server(len(self.servers)))
        return self.servers[index]


def family_of(sockaddr: tuple | str) -> int:
    if isinstance(sockaddr, str):
        return socket.AF_UNIX
    return socket.AF_INET6 if len(sockaddr) == 4 else socket.AF_INET
