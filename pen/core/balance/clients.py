"""The client table: pen's memory of which server each client used (pen(1) -T).

Keyed by client IP only (not port), `-c` slots, least recently used slot evicted.  C pen scanned
the whole table per connection; here lookup and eviction are O(1) (a dict from address to slot
and an ordered recency list).  Slots keep C's numbering, so `recent` lists them in slot order.

Tracking time (-T) really expires: a client whose last connect is more than T seconds old is a
new client again.  C pen only forgot a slot when another client's scan passed it (pen(1) -T), so a
returning client kept its server however long it was away.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

from pen.core.balance.servers import NO_SERVER

UNIX_CLIENT: Final = ""   # every unix-socket client shares one slot, as in C pen


@dataclass(slots=True)
class Client:
    slot: int
    address: str
    last: float = 0.0          # time of the last connect
    server: int = NO_SERVER    # the tracked server
    connects: int = 0
    csx: int = 0               # bytes sent to the client
    crx: int = 0               # bytes received from the client

    def reset(self, address: str) -> None:
        self.address, self.server, self.connects, self.csx, self.crx = address, NO_SERVER, 0, 0, 0


class ClientTable:
    __slots__ = ("slots", "by_address", "recency", "size", "free")

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self.slots: list[Client | None] = []        # grows with the clients actually seen
        self.by_address: dict[str, Client] = {}
        self.recency: OrderedDict[int, None] = OrderedDict()   # slot numbers, oldest first
        self.free: list[int] = []                   # slots vacated by `forget`

    def __len__(self) -> int:
        return len(self.by_address)

    def grow(self, size: int) -> int:
        """`clients_max N`: the table only grows (C pen semantics)."""
        if size > self.size:
            self.size = size
        return self.size

    def store(self, address: str, now: float, tracking: float) -> Client:
        """Find or allocate the client's slot and count the connect (C's store_client)."""
        client = self.by_address.get(address)
        if client is not None:
            if tracking > 0 and client.last + tracking < now:
                client.reset(address)      # tracking expired: a fresh choice
            self.recency.move_to_end(client.slot)
        else:
            client = self._allocate(address)
        client.last = now
        client.connects += 1
        return client

    def _allocate(self, address: str) -> Client:
        if self.free or len(self.slots) < self.size:
            if self.free:
                slot = self.free.pop()
            else:
                slot = len(self.slots)
                self.slots.append(None)
            client = Client(slot, address)
            self.slots[slot] = client
        else:
            slot, _ = self.recency.popitem(last=False)
            evicted = self.slots[slot]
            assert evicted is not None          # a slot in `recency` holds a client
            del self.by_address[evicted.address]
            evicted.reset(address)
            client = evicted
        self.by_address[address] = client
        self.recency[slot] = None
        return client

    def merge(self, address: str, server: int, last: float) -> bool:
        """A peer's entry (docs/peers.md): taken when it is newer than ours (newest wins); a
        new client gets a slot as a connect would, without counting a connect."""
        client = self.by_address.get(address)
        if client is not None:
            if client.last >= last:
                return False
            self.recency.move_to_end(client.slot)
        else:
            if not self.free and len(self.slots) >= self.size:
                oldest = self.slots[next(iter(self.recency))]
                if oldest is not None and oldest.last >= last:
                    return False          # a full table keeps its newer clients
            client = self._allocate(address)
        client.last, client.server = last, server
        return True

    def get(self, address: str) -> Client | None:
        return self.by_address.get(address)

    def forget(self, address: str) -> None:
        client = self.by_address.pop(address, None)
        if client is not None:
            self.slots[client.slot] = None
            self.recency.pop(client.slot, None)
            self.free.append(client.slot)

    def recent(self, now: float, seconds: float) -> list[Client]:
        """Clients whose last connect was within `seconds`, in slot order (penctl `recent`)."""
        return [c for c in self.slots if c is not None and c.last and now - c.last <= seconds]

    def active(self) -> list[Client]:
        return [c for c in self.slots if c is not None]

    def untrack_server(self, index: int) -> None:
        """Forget every client's tie to a server that is being removed or re-addressed."""
        for client in self.by_address.values():
            if client.server == index:
                client.server = NO_SERVER
