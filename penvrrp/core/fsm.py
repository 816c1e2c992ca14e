"""The VRRP state machine (RFC 5798/9568 §6.4, RFC 3768 §6.4) with keepalived's additions.

Pure: fed validated adverts, tracking results and ``now`` (seconds, monotonic); returns
the actions the runtime must carry out, and says when it next needs ``tick``.  States
are INIT, BACKUP, MASTER, FAULT (a tracked object without weight failed: keepalived's
FAULT) and STOP.  Additions beyond the RFC, all from keepalived 2.2.7 (spec/vrrp.md
§1.8, §1.11, §2.4): preempt_delay, the second GARP burst and periodic refresh, and a
master that answers a lower-priority advert with its own advert and a GARP burst.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from enum import Enum

from penvrrp.core import packet
from penvrrp.core.config import InstanceConfig
from penvrrp.core.timing import master_down_interval, skew_time


class State(str, Enum):
    INIT = "INIT"
    BACKUP = "BACKUP"
    MASTER = "MASTER"
    FAULT = "FAULT"
    STOP = "STOP"


@dataclass(slots=True, frozen=True)
class SendAdvert:
    priority: int


@dataclass(slots=True, frozen=True)
class AddVips:
    pass


@dataclass(slots=True, frozen=True)
class DelVips:
    pass


@dataclass(slots=True, frozen=True)
class Announce:
    """Send ``count`` gratuitous ARPs / unsolicited NAs per VIP."""

    count: int


@dataclass(slots=True, frozen=True)
class Notify:
    state: State
    priority: int


@dataclass(slots=True, frozen=True)
class Log:
    level: str
    message: str


Action = SendAdvert | AddVips | DelVips | Announce | Notify | Log

COUNTERS = ("adverts_sent", "adverts_rcvd", "priority_zero_sent", "priority_zero_rcvd",
            "become_master", "release_master", "lower_prio_discarded")


@dataclass(slots=True)
class Fsm:
    """One VRRP instance.  ``my_addr`` is the address we send from (the tie-break key)."""

    cfg: InstanceConfig
    my_addr: str
    state: State = State.INIT
    priority: int = 0
    fault: bool = False
    master_adver_cs: int = 0
    master_addr: str | None = None
    adver_at: float | None = None
    down_at: float | None = None
    garp_at: float | None = None
    refresh_at: float | None = None
    preempt_until: float | None = None
    lower_garp_at: float = float("-inf")
    last_transition: float = 0.0
    counters: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.priority = self.cfg.priority
        self.master_adver_cs = self.cfg.interval_cs
        for name in COUNTERS:
            self.counters.setdefault(name, 0)

    # -- derived timers ------------------------------------------------------------
    @property
    def skew(self) -> float:
        return skew_time(self.cfg.version, self.priority, self.master_adver_cs)

    @property
    def master_down(self) -> float:
        return master_down_interval(self.cfg.version, self.priority, self.master_adver_cs)

    def next_deadline(self) -> float | None:
        times = [t for t in (self.adver_at, self.down_at, self.garp_at, self.refresh_at) if t is not None]
        return min(times) if times else None

    # -- inputs --------------------------------------------------------------------
    def start(self, now: float) -> list[Action]:
        """Initialize -> Backup or Master (RFC §6.4.1).  Stale VIPs go first (spec §5.5)."""
        acts: list[Action] = [DelVips()]
        if self.cfg.preempt_delay > 0:
            self.preempt_until = now + self.cfg.preempt_delay
        if self.fault:
            return acts + self._enter_fault(now)
        if self.priority == 255:
            return acts + self._become_master(now)
        return acts + self._become_backup(now)

    def stop(self, now: float) -> list[Action]:
        """Shutdown: a master resigns with priority 0 (RFC §6.4.3) and drops its VIPs."""
        acts: list[Action] = []
        if self.state == State.MASTER:
            acts += self._send(0)
        acts.append(DelVips())
        self._clear_timers()
        self._transition(State.STOP, now)
        acts.append(Notify(State.STOP, self.priority))
        return acts

    def tick(self, now: float) -> list[Action]:
        """Run every timer that is due."""
        acts: list[Action] = []
        if self.state == State.BACKUP and self.down_at is not None and now >= self.down_at:
            acts.append(Log("info", "Master_Down timer expired: taking over"))
            acts += self._become_master(now)
        if self.state != State.MASTER:
            return acts
        interval = self.cfg.interval_cs / 100.0
        if self.adver_at is not None and now >= self.adver_at:
            acts += self._send(self.priority)
            self.adver_at = max(self.adver_at + interval, now + interval / 2)
        if self.garp_at is not None and now >= self.garp_at:
            self.garp_at = None
            acts.append(Announce(self.cfg.garp_repeat))
        if self.refresh_at is not None and now >= self.refresh_at:
            self.refresh_at = now + self.cfg.garp_refresh
            acts.append(Announce(1))
        return acts

    def on_advert(self, adv: packet.Advert, src: str, now: float) -> list[Action]:
        """A validated advert for our VRID (RFC §6.4.2 Backup, §6.4.3 Master)."""
        self.counters["adverts_rcvd"] += 1
        if adv.priority == 0:
            self.counters["priority_zero_rcvd"] += 1
        if self.state == State.BACKUP:
            return self._backup_rx(adv, src, now)
        if self.state == State.MASTER:
            return self._master_rx(adv, src, now)
        return []

    def set_tracking(self, priority: int, fault: bool, now: float) -> list[Action]:
        """Tracked objects changed: new effective priority, or FAULT entered/left."""
        acts: list[Action] = []
        if priority != self.priority:
            acts.append(Log("info", f"priority {self.priority} -> {priority}"))
            self.priority = priority
        self.fault = fault
        if fault and self.state in (State.BACKUP, State.MASTER):
            acts += self._enter_fault(now)
        elif not fault and self.state == State.FAULT:
            acts.append(Log("info", "tracked objects recovered: leaving FAULT"))
            acts += self._become_master(now) if self.priority == 255 else self._become_backup(now)
        elif self.state == State.MASTER and acts:
            acts += self._send(self.priority)
            self.adver_at = now + self.cfg.interval_cs / 100.0
        return acts

    # -- state handlers ------------------------------------------------------------
    def _backup_rx(self, adv: packet.Advert, src: str, now: float) -> list[Action]:
        if adv.priority == 0:
            self.down_at = now + self.skew
            return [Log("info", f"master {src} resigned (priority 0): taking over in {self.skew:.3f} s")]
        lower = adv.priority < self.priority
        if lower and self.cfg.preempt and not self._in_preempt_delay(now):
            self.counters["lower_prio_discarded"] += 1
            return []
        if not lower:
            self.preempt_until = None
        self.master_addr = src
        if self.cfg.version == 3 and adv.interval_cs != self.master_adver_cs:
            self.master_adver_cs = adv.interval_cs
        self.down_at = now + self.master_down
        return []

    def _in_preempt_delay(self, now: float) -> bool:
        """keepalived's preempt_delay: accept lower masters for N s after start or after
        first seeing one (spec/vrrp.md §1.8)."""
        if self.cfg.preempt_delay <= 0:
            return False
        if self.preempt_until is None:
            self.preempt_until = now + self.cfg.preempt_delay
        return now < self.preempt_until

    def _master_rx(self, adv: packet.Advert, src: str, now: float) -> list[Action]:
        if adv.priority == 0:
            self.adver_at = now + self.cfg.interval_cs / 100.0
            return self._send(self.priority)
        higher = adv.priority > self.priority or (
            adv.priority == self.priority and ipaddress.ip_address(src) > ipaddress.ip_address(self.my_addr))
        if higher:
            if self.cfg.version == 3:
                self.master_adver_cs = adv.interval_cs
            self.master_addr = src
            acts: list[Action] = [Log("info", f"advert from {src} with priority {adv.priority} "
                                              f"(ours {self.priority}): stepping down")]
            return acts + self._become_backup(now)
        # RFC 9568 §6.4.3: answer a lower-priority master at once; keepalived also re-sends
        # GARPs so ARP caches heal after a split brain (spec/vrrp.md §2.3 item 4).
        self.adver_at = now + self.cfg.interval_cs / 100.0
        acts = [Log("info", f"lower-priority advert from {src} ({adv.priority}, ours {self.priority}): "
                            "asserting mastership")] + self._send(self.priority)
        if now - self.lower_garp_at >= 1.0:
            self.lower_garp_at = now
            acts.append(Announce(self.cfg.garp_repeat))
        return acts

    # -- transitions ---------------------------------------------------------------
    def _send(self, priority: int) -> list[Action]:
        self.counters["adverts_sent"] += 1
        if priority == 0:
            self.counters["priority_zero_sent"] += 1
        return [SendAdvert(priority)]

    def _clear_timers(self) -> None:
        self.adver_at = self.down_at = self.garp_at = self.refresh_at = None

    def _transition(self, state: State, now: float) -> None:
        self.state = state
        self.last_transition = now

    def _become_master(self, now: float) -> list[Action]:
        """RFC §6.4.1/§6.4.2: VIPs, one advert at once, then GARP (keepalived: a burst now,
        another after garp_delay, optional refresh)."""
        self._clear_timers()
        self.master_adver_cs = self.cfg.interval_cs
        self.master_addr = self.my_addr
        self.preempt_until = None
        self._transition(State.MASTER, now)
        self.counters["become_master"] += 1
        self.adver_at = now + self.cfg.interval_cs / 100.0
        if self.cfg.garp_delay > 0:
            self.garp_at = now + self.cfg.garp_delay
        if self.cfg.garp_refresh > 0:
            self.refresh_at = now + self.cfg.garp_refresh
        return [AddVips(), *self._send(self.priority), Announce(self.cfg.garp_repeat),
                Notify(State.MASTER, self.priority)]

    def _become_backup(self, now: float) -> list[Action]:
        acts: list[Action] = []
        if self.state == State.MASTER:
            self.counters["release_master"] += 1
            acts.append(DelVips())
        self._clear_timers()
        if self.state in (State.INIT, State.FAULT):
            self.master_adver_cs = self.cfg.interval_cs
        self._transition(State.BACKUP, now)
        self.down_at = now + self.master_down
        return acts + [Notify(State.BACKUP, self.priority)]

    def _enter_fault(self, now: float) -> list[Action]:
        acts: list[Action] = []
        if self.state == State.MASTER:
            self.counters["release_master"] += 1
            acts += self._send(0)
        acts.append(DelVips())
        self._clear_timers()
        self._transition(State.FAULT, now)
        return acts + [Log("warning", "a tracked object without weight failed: FAULT"),
                       Notify(State.FAULT, self.priority)]
