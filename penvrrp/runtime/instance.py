"""One VRRP instance at run time: carries out what core.fsm decides.

Adverts are sent synchronously from the raw socket (never behind a netlink call);
VIP changes and GARP bursts go through a per-instance serial queue so that they
happen in the order the state machine gave them.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from typing import Any

from penvrrp.core import fsm as core_fsm
from penvrrp.core import packet, rxcheck, status
from penvrrp.core.config import InstanceConfig
from penvrrp.core.fsm import AddVips, Announce, DelVips, Fsm, Log, Notify, SendAdvert
from penvrrp.core.packet import PacketError
from penvrrp.core.timing import RateLimiter
from penvrrp.core.tracking import TrackState, effective
from penvrrp.runtime import notify, probes
from penvrrp.runtime.announce import Announcer
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
        self.notifier: notify.Notifier | None = None
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
            self.tasks.append(asyncio.create_task(self._probe_loop(*t)))

    def _source(self, link: LinkInfo) -> str:
        if self.cfg.unicast_src:
            return self.cfg.unicast_src
        pool = link.ipv4 if self.cfg.family == socket.AF_INET else link.ipv6_link_local
        if not pool:
            kind = "IPv4" if self.cfg.family == socket.AF_INET else "IPv6 link-local"
            raise RuntimeError(f"{self.cfg.name}: interface {self.cfg.interface} has no {kind} address to send from")
        return pool[0]

    async def stop(self) -> None:
        """Resign (priority 0), drop the VIPs, run the STOP notify, close everything."""
        if self.fsm is not None and self.fsm.state != core_fsm.State.STOP:
            self._apply(self.fsm.stop(self.loop.time()))
        if self.timer is not None:
            self.timer.cancel()
        if self.sock is not None:
            self.loop.remove_reader(self.sock.fileno())
        try:
            async with asyncio.timeout(3.0):
                await self.effects.join()
        except TimeoutError:
            log.error("%s: VIP removal did not finish in time", self.cfg.name)
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
            elif isinstance(act, (AddVips, DelVips, Announce)):
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
        auth_type = packet.AUTH_PASS if cfg.auth_pass is not None else packet.AUTH_NONE
        auth = packet.password_bytes(cfg.auth_pass) if cfg.auth_pass is not None else bytes(8)
        adv = packet.Advert(cfg.version, cfg.vrid, priority, tuple(v.address for v in cfg.vips),
                            cfg.interval_cs, auth_type=auth_type, auth_data=auth)
        for dst in cfg.unicast_peers or (self.dst,):
            try:
                self.sock.send(packet.encode(adv, self.fsm.my_addr, dst, cfg.checksum_mode), self.fsm.my_addr, dst)
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
                    for vip in self.cfg.vips:
                        await self.nl.add_vip(self.link.index, vip)
                elif isinstance(act, DelVips):
                    for vip in self.cfg.vips:
                        if await self.nl.del_vip(self.link.index, vip):
                            log.info("%s: removed VIP %s", self.cfg.name, vip)
                elif isinstance(act, Announce):
                    self.announcer.send(act.count)
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
            out.append((named[pt.name], lambda pt=pt: probes.probe_pen(pt.control, pt.listen, pt.timeout), pt.interval))
        for st in self.cfg.track_script:
            out.append((named[st.name], lambda st=st: probes.probe_script(st.command, st.timeout), st.interval))
        return out

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

    def _recompute(self, apply: bool = True) -> None:
        assert self.fsm is not None
        prio, fault = effective(self.cfg.priority, self.tracks)
        if (prio, fault) == (self.fsm.priority, self.fsm.fault):
            return
        acts = self.fsm.set_tracking(prio, fault, self.loop.time())
        if apply:
            self._apply(acts)

    def snapshot(self) -> dict[str, Any]:
        assert self.fsm is not None
        return status.instance_doc(self.fsm, self.tracks, time.time(), self.loop.time())
