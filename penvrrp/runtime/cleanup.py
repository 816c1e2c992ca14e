"""`penvrrp -c FILE cleanup`: what a killed agent could not do (penvrrp.service ExecStopPost).

For every instance whose VIPs are still on its interface: send one priority-0 advert (a
SIGKILLed master gave none, so without it the backup waits a whole Master_Down_Interval),
keep the VIPs until the new master's advert has been heard and `release_delay` more (as a
graceful stop does: pen still serves what reaches this node until the new master's ARPs are
out), at most one interval plus `release_delay`, then delete them, so two nodes never answer
ARP for the same address; from the new master's advert on it claims them on the link no more
(docs/penvrrp.md "Hand-over").  An instance that holds none of its VIPs sends nothing: its
priority 0 would wrongly hurry a backup.  The dead agent's hand-over rules go in every case.
"""
from __future__ import annotations

import logging
import select
import socket
import time

from penvrrp.core import rxcheck
from penvrrp.core.config import Config, InstanceConfig
from penvrrp.core.packet import PacketError
from penvrrp.runtime import handover
from penvrrp.runtime.adverts import advert_bytes, destinations
from penvrrp.runtime.netlink import Netlink
from penvrrp.runtime.sockets import VrrpSocket

log = logging.getLogger("penvrrp")


async def release_all(cfg: Config) -> list[str]:
    """The VIPs removed; each failure is logged and the next instance still cleaned."""
    nl = Netlink()
    removed: list[str] = []
    try:
        for inst in cfg.instances:
            try:
                link = await nl.link_info(inst.interface, inst.vip_addresses)
                held = await nl.held_addresses(link.index)
                mine = [v for v in inst.vips if v.address in held]
                if not mine:
                    handover.clear_sync(inst.vrid)
                    continue
                src = inst.unicast_src or (link.ipv4[0] if inst.family == socket.AF_INET and link.ipv4
                                           else (link.ipv6_link_local or ("",))[0])
                if src:
                    sock = VrrpSocket(inst.family, inst.interface, link.index, multicast=not inst.unicast)
                    try:
                        for dst in destinations(inst):
                            sock.send(advert_bytes(inst, 0, src, dst), src, dst)
                        heard = wait_for_new_master(sock, inst, src)
                    finally:
                        sock.close()
                    log.info("%s: cleanup: %s", inst.name, f"new master {heard} heard" if heard
                             else "no new master heard")
                    if heard and inst.handover_forward:
                        handover.hide_sync(inst.vrid, inst.interface, [v.address for v in mine])
                    time.sleep(inst.release_delay)
                for vip in mine:
                    if await nl.del_vip(link.index, vip):
                        removed.append(str(vip))
                handover.clear_sync(inst.vrid)
                log.info("%s: cleanup: resigned and removed %s", inst.name, " ".join(str(v) for v in mine))
            except Exception as exc:
                log.error("%s: cleanup failed: %s", inst.name, exc)
    finally:
        await nl.close()
    return removed


def wait_for_new_master(sock: VrrpSocket, inst: InstanceConfig, src: str) -> str | None:
    """The address of the first valid advert with a priority above 0 from another router,
    within one advert interval plus release_delay; None when none came."""
    end = time.monotonic() + inst.interval_cs / 100.0 + inst.release_delay
    while (left := end - time.monotonic()) > 0:
        if not select.select([sock.fileno()], [], [], left)[0]:
            break
        try:
            rx = sock.recv()
            dec = rxcheck.check(inst, rx.src, rx.dst, rx.ttl, rx.payload, src)
        except (BlockingIOError, PacketError):
            continue
        if rx.src != src and dec.advert.priority > 0:
            return rx.src
    return None
