"""One VRRP instance at run time: carries out what core.fsm decides.

Adverts are sent synchronously from the raw socket (never behind a netlink call);
VIP changes and GARP bursts go through a per-instance serial queue so that they
happen in the order the state machine gave them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from typing import Any

from penvrrp.core import fsm as core_fsm
from penvrrp.core import packet, rxcheck, status
from penvrrp.core.config import InstanceConfig, PenTrack
from penvrrp.core.fsm import (AddVips, Announce, DelVips, Forward, Fsm, HideVips, Log, Notify, SendAdvert,
                              Unforward)
from penvrrp.core.packet import PacketError
from penvrrp.core.timing import RateLimiter
from penvrrp.core.tracking import TrackState, can_serve, effective
from penvrrp.runtime import notify, probes
from penvrrp.runtime.adverts import advert_bytes, destinations
from penvrrp.runtime.announce import Announcer
from penvrrp.runtime.handover import Handover
from penvrrp.runtime.netlink import LinkInfo, Netlink
from penvrrp.runtime.sockets import VrrpSocket

log = logging.getLogger("penvrrp")


class InstanceRunner:
    def __init__(self, cfg: InstanceConfig, nl: Netlink, on_change: Any) -> None:
        self.cfg = cfg
        self.nl = nl
        self.on_change = on_change
        self.loop = asyncio.get_running_loop()
        self.link: LinkInfo | None = None
        self.sock: VrrpSocket | None = None
        self.announcer: Announcer | None = None
        self.fsm: Fsm | None = None
        self.tracks: list[TrackState] = []
        self.iface_tracks: dict[str, TrackState] = {}
        self.limiter = RateLimiter()
        self.timer: asyncio.TimerHandle | None = None
        self.effects: asyncio.Queue[Any] = asyncio.Queue()
        self.tasks: list[asyncio.Task[None]] = []
        self.probe_tasks: list[asyncio.Task[None]] = []
        self.pen_watch: dict[str, int] = {}       # pen tracker name -> pidfd of that pen
        self.notifier: notify.Notifier | None = None
        self.handover = Handover(cfg.name, cfg.vrid, cfg.interface, [v.address for v in cfg.vips],
                                 cfg.handover_forward)
        self.dst = packet.MCAST_V4 if cfg.family == socket.AF_INET else packet.MCAST_V6

    # -- lifecycle -----------------------------------------------------------------
    async def start(self) -> None:
        cfg = self.cfg
        self.link = await self.nl.link_info(cfg.interface, cfg.vip_addresses)
        src = self._source(self.link)
        self.fsm = Fsm(cfg, src)
        self.sock = VrrpSocket(cfg.family, cfg.interface, self.link.index, multicast=not cfg.unicast)
        ll = self.link.ipv6_link_local[0] if self.link.ipv6_link_local else None
        self.announcer = Announcer(cfg.interface, self.link.mac, cfg.vips, ll)
        self.notifier = notify.Notifier()
        await self.handover.clear()           # what a killed predecessor left
        self.tasks.append(asyncio.create_task(self._effects_worker()))
        self._build_tracks()
        await self._first_probes()
        self.loop.add_reader(self.sock.fileno(), self._on_readable)
        self._recompute(apply=False)
        log.info("%s: starting on %s vrid %d priority %d (configured %d), source %s, %s",
                 cfg.name, cfg.interface, cfg.vrid, self.fsm.priority, cfg.priority, src,
                 "unicast to " + ", ".join(cfg.unicast_peers) if cfg.unicast else "multicast " + self.dst)
        self._apply(self.fsm.start(self.loop.time()))
        for t in self._probe_specs():
            self.probe_tasks.append(asyncio.create_task(self._probe_loop(*t)))
        self.tasks += self.probe_tasks

    def _source(self, link: LinkInfo) -> str:
        if self.cfg.unicast_src:
            return self.cfg.unicast_src
        pool = link.ipv4 if self.cfg.family == socket.AF_INET else link.ipv6_link_local
        if not pool:
            kind = "IPv4" if self.cfg.family == socket.AF_INET else "IPv6 link-local"
            raise RuntimeError(f"{self.cfg.name}: interface {self.cfg.interface} has no {kind} address to send from")
        return pool[0]

    async def stop(self) -> None:
        """Resign (priority 0), keep the VIPs until the new master has spoken (bounded: the
        fsm's release timer), drop them, run the STOP notify, close everything."""
        if self.fsm is not None and self.fsm.state != core_fsm.State.STOP:
            self._apply(self.fsm.stop(self.loop.time()))
        if self.fsm is not None and self.fsm.releasing:
            end = self.loop.time() + self.cfg.interval_cs / 100.0 + self.cfg.release_delay + 1.0
            while self.fsm.releasing and self.loop.time() < end:
                await asyncio.sleep(0.02)         # adverts and the release timer still run
            if self.fsm.releasing:
                self.fsm.release_at = None
                self.effects.put_nowait(DelVips())
        for task in self.probe_tasks:
            task.cancel()
        for fd in self.pen_watch.values():
            self.loop.remove_reader(fd)
            os.close(fd)
        self.pen_watch.clear()
        if self.timer is not None:
            self.timer.cancel()
        if self.sock is not None:
            self.loop.remove_reader(self.sock.fileno())
        try:
            async with asyncio.timeout(3.0):
                await self.effects.join()
        except TimeoutError:
            log.error("%s: VIP removal did not finish in time", self.cfg.name)
        await self.handover.clear()
        if self.notifier is not None:
            await self.notifier.drain(5.0)
            await self.notifier.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.sock is not None:
            self.sock.close()
        if self.announcer is not None:
            self.announcer.close()

    # -- actions -------------------------------------------------------------------
    def _apply(self, actions: list[core_fsm.Action]) -> None:
        assert self.fsm is not None
        changed = False
        for act in actions:
            if isinstance(act, SendAdvert):
                self._send(act.priority)
            elif isinstance(act, (AddVips, DelVips, Announce, HideVips, Forward, Unforward)):
                self.effects.put_nowait(act)
            elif isinstance(act, Notify):
                changed = True
                log.info("%s: entering %s state (priority %d)", self.cfg.name, act.state.value, act.priority)
                assert self.notifier is not None
                self.notifier.submit(notify.commands(self.cfg, act.state, act.priority))
            elif isinstance(act, Log):
                getattr(log, act.level)("%s: %s", self.cfg.name, act.message)
        self._arm_timer()
        self.on_change(urgent=changed)

    def _send(self, priority: int) -> None:
        assert self.fsm is not None and self.sock is not None
        cfg = self.cfg
        for dst in destinations(cfg):
            try:
                self.sock.send(advert_bytes(cfg, priority, self.fsm.my_addr, dst), self.fsm.my_addr, dst)
            except OSError as exc:
                self.fsm.counters["send_errors"] = self.fsm.counters.get("send_errors", 0) + 1
                if self.limiter.allow("send", self.loop.time()):
                    log.warning("%s: cannot send advert to %s: %s", cfg.name, dst, exc)

    async def _effects_worker(self) -> None:
        assert self.link is not None and self.announcer is not None
        while True:
            act = await self.effects.get()
            try:
                if isinstance(act, AddVips):
                    await self.handover.unhide()
                    for vip in self.cfg.vips:
                        await self.nl.add_vip(self.link.index, vip)
                elif isinstance(act, DelVips):
                    for vip in self.cfg.vips:
                        if await self.nl.del_vip(self.link.index, vip):
                            log.info("%s: removed VIP %s", self.cfg.name, vip)
                    await self.handover.unhide()
                elif isinstance(act, Announce):
                    self.announcer.send(act.count)
                elif isinstance(act, HideVips):
                    await self.handover.hide()
                elif isinstance(act, Forward):
                    await self.handover.forward(act.peer)
                elif isinstance(act, Unforward):
                    await self.handover.unforward()
            except Exception as exc:
                log.error("%s: %s failed: %s", self.cfg.name, type(act).__name__, exc)
            finally:
                self.effects.task_done()

    def _arm_timer(self) -> None:
        assert self.fsm is not None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        deadline = self.fsm.next_deadline()
        if deadline is not None:
            self.timer = self.loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        assert self.fsm is not None
        self.timer = None
        self._apply(self.fsm.tick(self.loop.time()))

    # -- receive -------------------------------------------------------------------
    def _on_readable(self) -> None:
        assert self.sock is not None and self.fsm is not None
        for _ in range(64):
            try:
                rx = self.sock.recv()
            except BlockingIOError:
                return
            except PacketError as exc:
                self._discard(exc, "?")
                continue
            except OSError as exc:
                log.warning("%s: receive error: %s", self.cfg.name, exc)
                return
            try:
                dec = rxcheck.check(self.cfg, rx.src, rx.dst, rx.ttl, rx.payload, self.fsm.my_addr)
            except PacketError as exc:
                self._discard(exc, rx.src)
                continue
            if self.cfg.version == 3 and self.cfg.family == socket.AF_INET:
                key = f"rx_{dec.checksum_form}_checksum"
                self.fsm.counters[key] = self.fsm.counters.get(key, 0) + 1
            self._apply(self.fsm.on_advert(dec.advert, rx.src, self.loop.time()))

    def _discard(self, exc: PacketError, src: str) -> None:
        """Count every discard; log it rate-limited (RFC 9568 §7.1).  Foreign VRIDs are
        normal on a shared LAN, so they are logged at debug level only."""
        assert self.fsm is not None
        self.fsm.counters[exc.reason] = self.fsm.counters.get(exc.reason, 0) + 1
        level = logging.DEBUG if exc.reason == "vrid_errors" else logging.WARNING
        if log.isEnabledFor(level) and self.limiter.allow(exc.reason, self.loop.time()):
            skipped = self.limiter.take_suppressed(exc.reason)
            more = f" ({skipped} more since the last report)" if skipped else ""
            log.log(level, "%s: discarded advert from %s: %s [%s]%s", self.cfg.name, src, exc.detail, exc.reason, more)
        self.on_change(urgent=False)

    # -- tracking ------------------------------------------------------------------
    def _build_tracks(self) -> None:
        assert self.link is not None
        cfg = self.cfg
        if cfg.track_primary:
            t = TrackState(f"interface:{cfg.interface}", 0, ok=self.link.up, detail="link state")
            self.iface_tracks[cfg.interface] = t
            self.tracks.append(t)
        for it in cfg.track_interface:
            if it.interface in self.iface_tracks:
                self.iface_tracks[it.interface].weight = it.weight
                continue
            t = TrackState(it.name, it.weight, detail="link state")
            self.iface_tracks[it.interface] = t
            self.tracks.append(t)
        for pt in cfg.track_pen:
            self.tracks.append(TrackState(pt.name, pt.weight, pt.rise, pt.fall))
        for st in cfg.track_script:
            self.tracks.append(TrackState(st.name, st.weight, st.rise, st.fall))

    def _probe_specs(self) -> list[tuple[TrackState, Any, float]]:
        named = {t.name: t for t in self.tracks}
        out: list[tuple[TrackState, Any, float]] = []
        for pt in self.cfg.track_pen:
            out.append((named[pt.name], lambda pt=pt: self._probe_pen(pt), pt.interval))
        for st in self.cfg.track_script:
            out.append((named[st.name], lambda st=st: probes.probe_script(st.command, st.timeout), st.interval))
        return out

    async def _probe_pen(self, pt: PenTrack) -> tuple[bool, str]:
        ok, why = await probes.probe_pen(pt.control, pt.listen, pt.timeout)
        if ok and pt.name not in self.pen_watch:
            await self._watch_pen(pt)
        return ok, why

    async def _watch_pen(self, pt: PenTrack) -> None:
        """Watch the pen that answered through a pidfd: when it exits the tracker fails at
        once, not `fall` probes later (a pen that is gone will not answer the next one)."""
        pid = await probes.pen_pid(pt.control, pt.timeout)
        if pid is None or pt.name in self.pen_watch:
            return
        try:
            fd = os.pidfd_open(pid)
        except OSError:                       # another pid namespace, or gone already
            return
        self.pen_watch[pt.name] = fd
        self.loop.add_reader(fd, self._pen_exited, pt.name, pid, fd)

    def _pen_exited(self, name: str, pid: int, fd: int) -> None:
        self.loop.remove_reader(fd)
        os.close(fd)
        self.pen_watch.pop(name, None)
        self.tasks.append(asyncio.create_task(self._pen_gone(name, pid)))

    async def _pen_gone(self, name: str, pid: int) -> None:
        """Ask at once: a pen that handed its socket over (`pen --takeover`, an in-place
        upgrade) has a successor answering; anything else fails the tracker now."""
        pt = next(p for p in self.cfg.track_pen if p.name == name)
        track = next(t for t in self.tracks if t.name == name)
        ok, why = await probes.probe_pen(pt.control, pt.listen, pt.timeout)
        if ok:
            log.info("%s: %s: pen pid %d exited, its successor answers (%s)", self.cfg.name, name, pid, why)
            await self._watch_pen(pt)
            return
        log.warning("%s: %s: pen pid %d exited (%s)", self.cfg.name, name, pid, why)
        if track.fail_now(f"pen pid {pid} exited"):
            self._recompute()

    async def _first_probes(self) -> None:
        """Know the tracked objects before the first election (bounded by their timeouts)."""
        specs = self._probe_specs()
        results = await asyncio.gather(*(factory() for _t, factory, _i in specs))
        for (track, _f, _i), (ok, why) in zip(specs, results):
            track.observe(ok, why)
        for name, t in self.iface_tracks.items():
            if t.ok is None:
                try:
                    info = await self.nl.link_info(name)
                    t.observe(info.up, "link state")
                except Exception as exc:
                    t.observe(False, str(exc))

    async def _probe_loop(self, track: TrackState, factory: Any, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            ok, why = await factory()
            before = track.ok
            if track.observe(ok, why):
                log.warning("%s: %s %s (%s)", self.cfg.name, track.name, "recovered" if ok else "failed", why)
            if track.ok != before:
                self._recompute()

    def link_changed(self, ifname: str, up: bool) -> None:
        t = self.iface_tracks.get(ifname)
        if t is not None and t.ok != up:
            t.observe(up, "link state")
            log.warning("%s: interface %s is %s", self.cfg.name, ifname, "up" if up else "down")
            self._recompute()
            if up and self.cfg.track_pen:
                self.tasks.append(asyncio.create_task(self._retry_pen_servers()))

    async def _retry_pen_servers(self) -> None:
        """Our link came back: servers pen blacklisted while it was down failed because of
        us, not them (docs/penvrrp.md "Tracking"); pen re-tries them and we probe again."""
        for pt in self.cfg.track_pen:
            reply = await probes.retry_servers(pt.control, pt.timeout)
            log.info("%s: link up: asked pen at %s to re-try its servers: %s", self.cfg.name, pt.control, reply)
        for track, factory, _interval in self._probe_specs():
            if track.name.startswith("pen:"):
                ok, why = await factory()
                before = track.ok
                track.observe(ok, why)
                if track.ok != before:
                    self._recompute()

    def _recompute(self, apply: bool = True) -> None:
        assert self.fsm is not None
        prio, fault = effective(self.cfg.priority, self.tracks)
        eligible = can_serve(self.tracks)
        if (prio, fault, eligible) == (self.fsm.priority, self.fsm.fault, self.fsm.eligible):
            return
        acts = self.fsm.set_tracking(prio, fault, self.loop.time(), eligible)
        if apply:
            self._apply(acts)

    def snapshot(self) -> dict[str, Any]:
        assert self.fsm is not None
        return status.instance_doc(self.fsm, self.tracks, time.time(), self.loop.time())
