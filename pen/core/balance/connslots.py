"""The connection table's slots, numbered as C pen 0.34.1 numbers them (penctl(1)
`connection`, pen(1) -w).

`connection N`, `close N`, `socket FD` and the status page name connections by slot, so the
slot a connection gets is visible to scripts.  C pen looks for a free slot starting at the slot
it stored last (`connections_last`, the status page's "N last") and wrapping round; a closed
slot keeps the client and server of its last connection, which `connection N` still shows.
This module reproduces both; the engine asks it for a slot on accept and hands the slot back
on close.  Pure: no sockets, no clock.
"""
from __future__ import annotations

from typing import Final

from pen.core.stats import ConnView

_FREE: Final = 0
_USED: Final = 1


class SlotTable:
    """Which slots are in use, where the next search starts, and what closed slots held."""

    __slots__ = ("_used", "_stale", "last", "in_use")

    def __init__(self, size: int) -> None:
        self._used = bytearray(size)
        self._stale: dict[int, tuple[int, int]] = {}
        self.last = 0           # the slot stored last: C's connections_last
        self.in_use = 0

    def __len__(self) -> int:
        return len(self._used)

    def full(self) -> bool:
        return self.in_use >= len(self._used)

    def take(self) -> int:
        """The first free slot from `last` on, wrapping round (C's store_conn); the caller
        checks `full()` first.  memchr-speed: bytearray.find runs in C."""
        i = self._used.find(_FREE, self.last)
        if i < 0:
            i = self._used.find(_FREE, 0, self.last)
        if i < 0:
            raise LookupError("no free connection slot")
        self._used[i] = _USED
        self.in_use += 1
        self.last = i
        return i

    def release(self, index: int, client: int, server: int) -> None:
        """Slot `index` is free again; it remembers its last client and server slots."""
        if self._used[index] == _USED:
            self._used[index] = _FREE
            self.in_use -= 1
        self._stale[index] = (client, server)

    def grow(self, size: int) -> None:
        """The table only grows (conn_max, -x)."""
        if size > len(self._used):
            self._used.extend(bytes(size - len(self._used)))

    def closed_view(self, index: int) -> ConnView:
        """A free slot as `connection N` shows it: unused, no descriptors, and the client and
        server of the connection it held last (0 and 0 for a slot never used)."""
        client, server = self._stale.get(index, (0, 0))
        return ConnView(index, 0, -1, -1, client, server)
