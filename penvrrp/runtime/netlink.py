"""Addresses and links through netlink (pyroute2's asyncio flavour,
docs/penvrrp.md "Design").

The synchronous IPRoute of pyroute2 0.9 runs its own event loop and cannot be used
inside ours, hence AsyncIPRoute throughout.  Adding a present address or deleting an
absent one is success (EEXIST / EADDRNOTAVAIL): the wanted end state is reached.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyroute2 import AsyncIPRoute
from pyroute2.netlink.exceptions import NetlinkError

from penvrrp.core.config import Vip

log = logging.getLogger("penvrrp")

IFA_F_SECONDARY = 0x01
IFA_F_NODAD = 0x02
IFF_UP = 0x1
IFF_LOWER_UP = 0x10000


@dataclass(slots=True, frozen=True)
class LinkInfo:
    index: int
    mac: str
    up: bool
    ipv4: tuple[str, ...]
    ipv6_link_local: tuple[str, ...]


class LinkError(RuntimeError):
    pass


async def _messages(result: Any) -> list[Any]:
    """pyroute2 0.9 answers dumps with an async iterator and some requests with a list."""
    result = await result
    if hasattr(result, "__aiter__"):
        return [m async for m in result]
    return list(result)


def link_is_up(msg: object) -> bool:
    """Administratively up and carrier present: keepalived's notion of a working interface."""
    flags = msg["flags"]  # type: ignore[index]
    return bool(flags & IFF_UP) and bool(flags & IFF_LOWER_UP)


class Netlink:
    """One rtnetlink socket for queries and address changes."""

    def __init__(self) -> None:
        self.ipr = AsyncIPRoute()

    async def close(self) -> None:
        self.ipr.close()

    async def index(self, ifname: str) -> int:
        found = await self.ipr.link_lookup(ifname=ifname)
        if not found:
            raise LinkError(f"no interface named {ifname!r}")
        return int(found[0])

    async def link_info(self, ifname: str, exclude: frozenset[str] = frozenset()) -> LinkInfo:
        """Index, MAC, state and the addresses usable as advert source: primary IPv4
        first (not secondary, not a VIP), then IPv6 link-local."""
        index = await self.index(ifname)
        link = (await _messages(self.ipr.link("get", index=index)))[0]
        v4: list[tuple[int, str]] = []
        v6: list[str] = []
        for msg in await _messages(self.ipr.addr("dump", index=index)):
            addr = msg.get("IFA_ADDRESS")
            flags = msg.get("IFA_FLAGS") or msg["flags"]
            if addr is None or addr in exclude:
                continue
            if msg["family"] == socket.AF_INET:
                v4.append((1 if flags & IFA_F_SECONDARY else 0, addr))
            elif addr.lower().startswith("fe80:"):
                v6.append(addr)
        return LinkInfo(index, link.get("IFLA_ADDRESS") or "00:00:00:00:00:00", link_is_up(link),
                        tuple(a for _, a in sorted(v4, key=lambda x: x[0])), tuple(v6))

    async def held_addresses(self, index: int) -> set[str]:
        """Every address configured on the interface now."""
        return {m.get("IFA_ADDRESS") for m in await _messages(self.ipr.addr("dump", index=index))
                if m.get("IFA_ADDRESS")}

    async def add_vip(self, index: int, vip: Vip) -> bool:
        """Add one VIP; True if it was added now. IPv6 without DAD, or it stays tentative."""
        kwargs: dict[str, object] = {"index": index, "address": vip.address, "prefixlen": vip.prefixlen}
        if vip.family == socket.AF_INET6:
            kwargs["flags"] = IFA_F_NODAD
        try:
            await self.ipr.addr("add", **kwargs)
        except NetlinkError as exc:
            if exc.code == errno.EEXIST:
                return False
            raise
        return True

    async def del_vip(self, index: int, vip: Vip) -> bool:
        """Delete one VIP; True if it was there."""
        try:
            await self.ipr.addr("del", index=index, address=vip.address, prefixlen=vip.prefixlen)
        except NetlinkError as exc:
            if exc.code in (errno.EADDRNOTAVAIL, errno.ENODEV, errno.ENOENT):
                return False
            raise
        return True


class LinkMonitor:
    """Calls ``on_change(ifname, up)`` on every RTM_NEWLINK (about 30 ms after a carrier
    change) and ``on_change`` for deleted links as down."""

    def __init__(self, on_change: Callable[[str, bool], None]) -> None:
        self.on_change = on_change
        self.ipr = AsyncIPRoute()
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.ipr.bind()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            while True:  # each get() yields one batch of messages
                async for msg in self.ipr.get():
                    event = msg.get("event")
                    name = msg.get("IFLA_IFNAME")
                    if name is None:
                        continue
                    if event == "RTM_NEWLINK":
                        self.on_change(name, link_is_up(msg))
                    elif event == "RTM_DELLINK":
                        self.on_change(name, False)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the monitor must not die silently
            log.error("link monitor stopped: %s", exc)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except (asyncio.CancelledError, Exception):
                pass
        self.ipr.close()
