"""Where the dispatcher's state lives: server counters and status, the client table.

The dispatcher (pen.core.balance.dispatch) changes state only through a `Store`, so the same rules run
over plain objects in one process (`PlainStore`) and over shared memory when several worker
processes serve one listener (pen.core.balance.shared, docs/architecture.md "Workers").  The selection
algorithms read `Server` and `Client` objects; a shared store brings those up to date inside
`deciding()`, which holds the process-shared lock where a decision must be exact (admitting
the last connection under a limit), and writes every change through.
"""
from __future__ import annotations

from contextlib import nullcontext
from typing import ContextManager, Protocol

from pen.core.balance.clients import Client
from pen.core.balance.servers import NEVER, Server
from pen.core.balance.state import PenState

_NO_LOCK = nullcontext()


class Store(Protocol):
    def deciding(self) -> ContextManager[object]:
        """Held around a choice of server and the counting that follows it."""

    def at_conn_max(self, conns: int) -> bool:
        """Is pen at -x, given this process's own count?  (With workers: the sum.)"""

    def at_pending_max(self, pending: int) -> bool:
        """Is pen at pending_max, given this process's own count?  (With workers: the sum.)"""

    def count(self, conns: int, pending: int) -> None:
        """This process's connection and connect-in-progress counts changed by these deltas."""

    def track(self, host: str, now: float) -> Client:
        """The client's slot in the table (found or allocated), its connect counted."""

    def tracked(self, client: Client) -> None:
        """`client.server` was set: make it visible to the other workers."""

    def client_done(self, client: Client) -> None:
        """A connection of this client ended (its byte counts are final)."""

    def connecting(self, srv: Server, delta: int) -> None:
        """A connect to srv started (+1) or ended (-1)."""

    def opened(self, srv: Server) -> None:
        """A connection to srv is established."""

    def closed(self, srv: Server) -> None:
        """An established connection to srv ended."""

    def blacklist(self, srv: Server, now: float) -> None:
        """srv failed: count it and blacklist it from now (-b)."""

    def unblacklist(self, srv: Server) -> None:
        """srv is known good again (its health check passed)."""

    def health(self, srv: Server) -> None:
        """srv's health check changed its verdict (srv.health.up)."""

    def publish(self) -> None:
        """Once a second: make what the data path counts locally (bytes) visible."""


class PlainStore:
    """One process: the counters are the Server objects' own fields."""

    __slots__ = ("state", "feed")

    def __init__(self, state: PenState) -> None:
        self.state = state
        # with peers (docs/peers.md): the clients tracked since the peers' last flush
        self.feed: dict[str, Client] | None = None

    def deciding(self) -> ContextManager[object]:
        return _NO_LOCK

    def at_conn_max(self, conns: int) -> bool:
        return conns >= self.state.settings.conn_max

    def at_pending_max(self, pending: int) -> bool:
        return pending >= self.state.settings.pending_max

    def count(self, conns: int, pending: int) -> None:
        pass

    def track(self, host: str, now: float) -> Client:
        return self.state.clients.store(host, now, self.state.settings.tracking)

    def tracked(self, client: Client) -> None:
        feed = self.feed
        if feed is not None:
            feed[client.address] = client

    def client_done(self, client: Client) -> None:
        pass

    def connecting(self, srv: Server, delta: int) -> None:
        srv.pending += delta

    def opened(self, srv: Server) -> None:
        srv.c += 1
        srv.total += 1

    def closed(self, srv: Server) -> None:
        srv.c -= 1

    def blacklist(self, srv: Server, now: float) -> None:
        srv.failures += 1
        srv.blacklisted_at = now

    def unblacklist(self, srv: Server) -> None:
        srv.blacklisted_at = NEVER

    def health(self, srv: Server) -> None:
        pass

    def publish(self) -> None:
        pass
