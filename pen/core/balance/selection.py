"""Server selection and failover, in C pen's precedence (docs/pen.md "How a server is chosen").

Initial choice: client ACL -> abuse server; tracked server (unless -r); prio > weight > hash >
round robin.  A chosen server may be tried (C's try_server checks, `may_try`) unless it has no port or
address, is blacklisted, is over its limit, or its ACL denies the client.  A failed attempt
moves on through `next_failover`: the servers after the failed one, up to and including the
initial choice, then the emergency server, then nothing.

Deliberate differences (docs/compatibility.md): a refused connect fails over (C 0.34.1's epoll
loop dropped the client); limits count connects in progress; weight mode with no weights set
treats every server as weight 1 instead of refusing every client; the 0.0.0.0 "removed" idiom
works for server 0 too.
"""
from __future__ import annotations

import hashlib
import math

from pen.core.acl import client_family_and_int
from pen.core.balance.clients import Client
from pen.core.balance.servers import ABUSE, DROP, EMERGENCY, NO_SERVER, Server
from pen.core.balance.state import PenState


class ClientAddr:
    """What selection needs to know of a client; the family/int form is computed on demand."""

    __slots__ = ("host", "port", "_parsed")

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._parsed: tuple[int, int] | None = None

    def parsed(self) -> tuple[int, int]:
        if self._parsed is None:
            self._parsed = client_family_and_int(self.host)
        return self._parsed


def available(state: PenState, server: Server, now: float) -> bool:
    """Usable by the selection algorithms: has an address, not blacklisted, not draining,
    not marked down by its health check."""
    return (server.has_address() and not server.drain and not server.down()
            and not server.blacklisted(now, state.settings.blacklist))


def acl_permits(state: PenState, acl: int, who: ClientAddr) -> bool:
    lists = state.acls.lists
    if not 0 <= acl < len(lists) or not lists[acl]:
        return True
    family, address = who.parsed()
    return state.acls.permits(acl, family, address)


def initial_server(state: PenState, client: Client, who: ClientAddr, now: float) -> int:
    s = state.settings
    if not acl_permits(state, s.client_acl, who):
        return ABUSE if state.servers.abuse is not None else DROP
    if not s.roundrobin and client.server >= 0 and client.server < len(state.servers):
        return client.server
    if s.prio:
        return by_prio(state, now)
    if s.weight:
        return by_weight(state, now)
    if s.leastconn:
        return by_leastconn(state, now)
    if s.hash:
        if s.hash_method == "consistent":
            return by_consistent_hash(state, who, now)
        return by_hash(state, who)
    return by_roundrobin(state, now)


def by_roundrobin(state: PenState, now: float) -> int:
    servers = state.servers.servers
    n = len(servers)
    i = state.rr_last
    for _ in range(n):
        i = (i + 1) % n
        if available(state, servers[i], now):
            state.rr_last = i
            return i
    return NO_SERVER


def by_prio(state: PenState, now: float) -> int:
    best, best_prio = NO_SERVER, None
    for server in state.servers.servers:
        if available(state, server, now) and (best_prio is None or server.prio < best_prio):
            best, best_prio = server.index, server.prio
    return best


def by_weight(state: PenState, now: float) -> int:
    """Least of 256*load/weight over available servers with a weight (pen(1) -W)."""
    candidates = [sv for sv in state.servers.servers if available(state, sv, now)]
    weighted = [sv for sv in candidates if sv.effective_weight() > 0]
    if not weighted and not any(sv.weight > 0 for sv in state.servers.servers):
        weighted = candidates        # no weights at all: plain least connections
    best, best_score = NO_SERVER, None
    for server in weighted:
        score = 256 * server.load() // (server.effective_weight() or 1)
        if best_score is None or score < best_score:
            best, best_score = server.index, score
    return best


def by_leastconn(state: PenState, now: float) -> int:
    """The available server with the fewest connections; ties go round robin (pen-ha)."""
    servers = state.servers.servers
    n = len(servers)
    best, best_load = NO_SERVER, None
    i = state.rr_last
    for _ in range(n):
        i = (i + 1) % n
        server = servers[i]
        if available(state, server, now) and (best_load is None or server.load() < best_load):
            best, best_load = i, server.load()
    if best != NO_SERVER:
        state.rr_last = best
    return best


def by_consistent_hash(state: PenState, who: ClientAddr, now: float) -> int:
    """Weighted rendezvous hashing of the client address over the available servers (pen-ha).

    Each server scores -w / ln(u), u uniform in (0,1) from a hash of (client, server address):
    the highest score wins.  Adding or removing one of N servers moves only the clients whose
    winner changed, about 1/N of them, and every pen node with the same server addresses picks
    the same server for a client, with no shared state (issue 12).  With -r the client port is
    part of the key.
    """
    ranked = rendezvous_rank(state, who, now)
    return ranked[0] if ranked else NO_SERVER


def rendezvous_rank(state: PenState, who: ClientAddr, now: float) -> list[int]:
    """The available servers, best rendezvous score first."""
    key = who.host if not state.settings.roundrobin else f"{who.host}:{who.port}"
    scored = []
    for server in state.servers.servers:
        if not available(state, server, now):
            continue
        weight = server.effective_weight() or 1
        digest = hashlib.blake2b(f"{key}|{server.host}|{server.port}".encode(),
                                 digest_size=8).digest()
        u = (int.from_bytes(digest, "big") + 1) / (2 ** 64 + 2)
        scored.append((-weight / math.log(u), -server.index))
    scored.sort(reverse=True)
    return [-index for _, index in scored]


def by_hash(state: PenState, who: ClientAddr) -> int:
    """C pen's hash (pen(1) -h), reproduced bit for bit so clients land where C pen sends them."""
    n = len(state.servers)
    if n == 0:
        return NO_SERVER
    family, address = who.parsed()
    if family == 4:
        value = int.from_bytes(address.to_bytes(4, "big"), "little")
        if state.settings.roundrobin:
            value ^= ((who.port & 0xFF) << 8) | (who.port >> 8)
        return value % n
    if family == 6:
        return (address & 0xFF) % n
    return 0


def skip_reason(state: PenState, index: int, client: Client, who: ClientAddr,
                now: float) -> str | None:
    """C's try_server checks, in order: why the server must be skipped, None when it may be
    tried."""
    server = state.servers.get(index)
    if server is None:
        return "no such server"
    if not server.has_address():
        return "no address"
    if server.blacklisted(now, state.settings.blacklist):
        return "blacklisted"
    if index >= 0 and server.drain and not (server.drain_sticky and client.server == index):
        return "draining"
    if server.down():
        return "down (health check)"
    if server.maxc:
        load = server.load()
        sticky = client.server == index
        if load >= server.maxc and (not sticky or load >= server.hard):
            return f"overloaded: sticky={int(sticky)}, maxc={server.maxc}, hard={server.hard}"
    if index >= 0 and not acl_permits(state, server.acl, who):
        return "denied by acl"
    return None


def may_try(state: PenState, index: int, client: Client, who: ClientAddr, now: float) -> bool:
    """The server passes C's try_server checks (skip_reason has nothing against it)."""
    return skip_reason(state, index, client, who, now) is None


def next_failover(state: PenState, current: int, initial: int, client: Client,
                  who: ClientAddr, now: float) -> int:
    """The next server to try after `current` failed (C's failover_server; docs/pen.md "How a
    server is chosen")."""
    s = state.settings
    if s.stubborn or current in (ABUSE, EMERGENCY, DROP):
        return NO_SERVER
    n = len(state.servers)
    if current >= 0 and n >= 2 and s.hash and s.hash_method == "consistent":
        # the rendezvous runner-up: what every other node picks for this client (issue 12)
        for i in rendezvous_rank(state, who, now):
            if i != current and may_try(state, i, client, who, now):
                return i
    elif current >= 0 and n >= 2:
        stop = initial if initial >= 0 else current
        i = current
        while True:
            i = (i + 1) % n
            if may_try(state, i, client, who, now):
                return i
            if i == stop:
                break
    if state.servers.emergency is not None and may_try(state, EMERGENCY, client, who, now):
        return EMERGENCY
    return NO_SERVER


def choose(state: PenState, client: Client, who: ClientAddr, now: float) -> tuple[int, int]:
    """(initial choice, first server to try): the initial one if it may be tried, else
    failover."""
    first = initial_server(state, client, who, now)
    if first == DROP:
        return DROP, NO_SERVER
    if first != NO_SERVER and may_try(state, first, client, who, now):
        return first, first
    if first == ABUSE:
        return first, NO_SERVER
    return first, next_failover(state, first if first >= 0 else NO_SERVER, first, client, who, now)


def record_choice(state: PenState, client: Client, index: int) -> None:
    """A connect to `index` was started: the client is tracked to it (pen(1) -T)."""
    client.server = index if index >= 0 else NO_SERVER
    state.current = index
