"""The VRRP state machine (RFC 5798/9568 §6.4, RFC 3768 §6.4) with keepalived's additions.

Pure: fed validated adverts, tracking results and ``now`` (seconds, monotonic); returns
the actions the runtime must carry out, and says when it next needs ``tick``.  States
are INIT, BACKUP, MASTER, FAULT (a tracked object without weight failed: keepalived's
FAULT) and STOP.  Additions beyond the RFC from keepalived 2.2.7: preempt_delay, the
second GARP burst and periodic refresh, and a master that answers a lower-priority advert
with its own advert and a GARP burst.  pen-ha's own (docs/penvrrp.md "Protocol behaviour"):

* a preempting backup that hears a master below its own priority takes over after
  Skew_Time, not after a whole Master_Down_Interval (the master lowered its priority
  because its pen failed: every second counts);
* a backup that cannot serve (``eligible`` False: its pen can use no server) preempts
  nobody; it still takes over when no master is heard at all;
* a master that steps down, resigns (FAULT) or stops keeps its VIPs for
  ``release_delay`` after the new master's advert (or a bound when none comes), so
  traffic that still reaches it is served until the new master's gratuitous ARPs are out;
  from that advert on it claims them on the link no more (``HideVips``);
* a backup that takes over from a master it heard (a priority-0 advert, or a lower
  priority it preempts) forwards the connections it does not know to that master until
  ``release_delay`` + ``FORWARD_MARGIN`` after taking over (``Forward``), so a connection
  open through the old master survives the move of the VIP (docs/penvrrp.md "Hand-over").
  The rule is loaded as soon as the take-over is decided: it acts only where the VIP is
  local, and loading it then keeps it off the path between MASTER and the GARPs.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from enum import Enum

from penvrrp.core import packet
from penvrrp.core.config import InstanceConfig
from penvrrp.core.handover import FORWARD_MARGIN
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
class HideVips:
    """Keep the VIPs, but answer no ARP / neighbour solicitation for them (the new master
    has announced them); undone by AddVips and DelVips."""


@dataclass(slots=True, frozen=True)
class Forward:
    """Forward the TCP flows this node does not know to ``peer``, the old master."""

    peer: str


@dataclass(slots=True, frozen=True)
class Unforward:
    pass


@dataclass(slots=True, frozen=True)
class Notify:
    state: State
    priority: int


@dataclass(slots=True, frozen=True)
class Log:
    level: str
    message: str


Action = SendAdvert | AddVips | DelVips | Announce | HideVips | Forward | Unforward | Notify | Log

COUNTERS = ("adverts_sent", "adverts_rcvd", "priority_zero_sent", "priority_zero_rcvd",
            "become_master", "release_master", "lower_prio_discarded", "lower_prio_preempted",
            "transitions")
ASSERT_LOG_EVERY = 10.0      # seconds between "asserting mastership" lines (a partition)


def _addr_key(addr: str) -> tuple[int, int]:
    """The tie-break order of RFC 9568 §6.4.3 (the higher primary address wins), as a key
    that compares across families instead of raising."""
    ip = ipaddress.ip_address(addr)
    return ip.version, int(ip)


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
    release_at: float | None = None
    hidden: bool = False
    handover_from: str | None = None     # the live master our pending take-over replaces
    forward_until: float | None = None
    forward_peer: str | None = None      # the peer the loaded Forward rule points to
    eligible: bool = True
    assert_log_at: float = float("-inf")
    assert_suppressed: int = 0
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
        times = [t for t in (self.adver_at, self.down_at, self.garp_at, self.refresh_at, self.release_at,
                             self.forward_until) if t is not None]
        return min(times) if times else None

    # -- inputs --------------------------------------------------------------------
    def start(self, now: float) -> list[Action]:
        """Initialize -> Backup or Master (RFC 9568 §6.4.1).  Stale VIPs go first (docs/penvrrp.md
        "Protocol behaviour")."""
        acts: list[Action] = [DelVips()]
        if self.cfg.preempt_delay > 0:
            self.preempt_until = now + self.cfg.preempt_delay
        if self.fault:
            return acts + self._enter_fault(now)
        if self.priority == 255:
            return acts + self._become_master(now)
        return acts + self._become_backup(now)

    def stop(self, now: float) -> list[Action]:
        """Shutdown: a master resigns with priority 0 (RFC 9568 §6.4.3); its VIPs go once the
        new master has spoken (``releasing``), anyone else's at once."""
        acts: list[Action] = []
        was_master = self.state == State.MASTER
        if was_master:
            acts += self._send(0)
        self._clear_timers()
        if was_master:
            self._hold_vips(now)
        elif self.release_at is None:
            acts.append(DelVips())
        self._transition(State.STOP, now)
        acts.append(Notify(State.STOP, self.priority))
        return acts

    @property
    def releasing(self) -> bool:
        """VIPs still held after leaving MASTER (the hand-over linger)."""
        return self.release_at is not None

    def _hold_vips(self, now: float) -> None:
        """Keep the VIPs until a new master is heard (+ release_delay), at most one
        interval (the best backup's Skew_Time is shorter) plus release_delay."""
        interval = self.master_adver_cs / 100.0
        self.release_at = now + interval + self.cfg.release_delay

    def _release_due(self, now: float) -> list[Action]:
        if self.release_at is None or now < self.release_at:
            return []
        self.release_at = None
        self.hidden = False
        return [DelVips()]

    def _hide(self) -> list[Action]:
        """The new master has spoken: from now on it, not we, answers ARP for the VIPs."""
        if self.release_at is None or self.hidden:
            return []
        self.hidden = True
        return [HideVips()]

    def _forward_due(self, now: float) -> list[Action]:
        if self.forward_until is None or now < self.forward_until:
            return []
        self.forward_until = None
        self.forward_peer = None
        return [Unforward()]

    def _arm_forward(self, peer: str) -> list[Action]:
        """A take-over from ``peer`` is coming: load the rule now (inert until the VIP is ours)."""
        self.handover_from = peer
        if self.forward_peer == peer:
            return []
        self.forward_peer = peer
        return [Forward(peer)]

    def _disarm_forward(self) -> list[Action]:
        """The take-over we armed for will not happen (unless one is running: it expires)."""
        self.handover_from = None
        if self.forward_peer is None or self.forward_until is not None:
            return []
        self.forward_peer = None
        return [Unforward()]

    def tick(self, now: float) -> list[Action]:
        """Run every timer that is due."""
        acts: list[Action] = self._release_due(now) + self._forward_due(now)
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
        """A validated advert for our VRID (RFC 9568 §6.4.2 Backup, §6.4.3 Master)."""
        self.counters["adverts_rcvd"] += 1
        acts: list[Action] = []
        if adv.priority == 0:
            self.counters["priority_zero_rcvd"] += 1
        elif self.release_at is not None and self.state != State.MASTER and src != self.my_addr:
            # someone else is master now: its GARPs follow its advert within milliseconds
            self.release_at = min(self.release_at, now + self.cfg.release_delay)
            acts += self._hide() + self._release_due(now)
        if self.state == State.BACKUP:
            return acts + self._backup_rx(adv, src, now)
        if self.state == State.MASTER:
            return acts + self._master_rx(adv, src, now)
        return acts

    def set_tracking(self, priority: int, fault: bool, now: float, eligible: bool = True) -> list[Action]:
        """Tracked objects changed: new effective priority, FAULT entered/left, or the
        local pen became able (or unable) to serve."""
        acts: list[Action] = []
        if eligible != self.eligible:
            acts.append(Log("info", "pen can serve again: may preempt" if eligible
                            else "pen can serve nobody: preempting no master"))
            self.eligible = eligible
        changed = priority != self.priority
        if changed:
            acts.append(Log("info", f"priority {self.priority} -> {priority}"))
            self.priority = priority
        self.fault = fault
        if fault and self.state in (State.BACKUP, State.MASTER):
            acts += self._enter_fault(now)
        elif not fault and self.state == State.FAULT:
            acts.append(Log("info", "tracked objects recovered: leaving FAULT"))
            if self.priority == 255:
                acts += self._become_master(now)
            else:
                acts += self._become_backup(now)
            if self.priority != 255 and self.cfg.preempt and self.eligible and self.down_at is not None:
                # now BACKUP: a master that is there speaks within one interval (and one below us we
                # would preempt anyway): after a link flap, no whole Master_Down_Interval
                self.down_at = min(self.down_at, now + self.cfg.interval_cs / 100.0 + self.skew)
        elif self.state == State.MASTER and changed:     # advertise the change at once
            acts += self._send(self.priority)
            self.adver_at = now + self.cfg.interval_cs / 100.0
        return acts

    # -- state handlers ------------------------------------------------------------
    def _backup_rx(self, adv: packet.Advert, src: str, now: float) -> list[Action]:
        if adv.priority == 0:
            self.down_at = now + self.skew
            return self._arm_forward(src) + [
                Log("info", f"master {src} resigned (priority 0): taking over in {self.skew:.3f} s")]
        lower = adv.priority < self.priority
        if lower and self.cfg.preempt and self.eligible and not self._in_preempt_delay(now):
            self.counters["lower_prio_discarded"] += 1
            if self.down_at is not None and self.down_at > now + self.skew:
                # the master lowered its priority (its pen failed?): take over after Skew_Time
                self.down_at = now + self.skew
                self.counters["lower_prio_preempted"] += 1
                return self._arm_forward(src) + [
                    Log("info", f"master {src} advertises {adv.priority}, below ours ({self.priority}): "
                                f"taking over in {self.skew:.3f} s")]
            return []
        if not lower:
            self.preempt_until = None
        self.master_addr = src
        acts = self._disarm_forward() if self.handover_from is not None else []
        if self.cfg.version == 3 and adv.interval_cs != self.master_adver_cs:
            self.master_adver_cs = adv.interval_cs
        self.down_at = now + self.master_down
        return acts

    def _in_preempt_delay(self, now: float) -> bool:
        """keepalived's preempt_delay: accept lower masters for N s after start or after
        first seeing one (keepalived.conf(5) `preempt_delay`)."""
        if self.cfg.preempt_delay <= 0:
            return False
        if self.preempt_until is None:
            self.preempt_until = now + self.cfg.preempt_delay
        return now < self.preempt_until

    def _master_rx(self, adv: packet.Advert, src: str, now: float) -> list[Action]:
        if adv.priority == 0:
            # RFC 9568 §6.4.3: answer at once.  The resigning router may have held the VIPs too (a
            # healed split brain, or a killed agent's cleanup): re-announce, so no client is
            # left pointing at a node that is about to drop them (at most once a second).
            self.adver_at = now + self.cfg.interval_cs / 100.0
            acts = self._send(self.priority)
            if now - self.lower_garp_at >= 1.0:
                self.lower_garp_at = now
                acts.append(Announce(self.cfg.garp_repeat))
            return acts
        higher = adv.priority > self.priority or (
            adv.priority == self.priority and _addr_key(src) > _addr_key(self.my_addr))
        if higher:
            if self.cfg.version == 3:
                self.master_adver_cs = adv.interval_cs
            self.master_addr = src
            step_down: list[Action] = [Log("info", f"advert from {src} with priority "
                                                   f"{adv.priority} (ours {self.priority}): "
                                                   "stepping down")]
            # A healed split brain: clients may point at us, and the other master need never
            # hear our advert (its own can reach us first), so it would not re-announce.  A
            # priority-0 advert as we leave makes it answer with its gratuitous ARPs at once
            # (the branch above), as a resignation does; we keep serving for release_delay.
            return step_down + self._send(0) + self._become_backup(now)
        # RFC 9568 §6.4.3: answer a lower-priority master at once; keepalived also re-sends
        # GARPs so ARP caches heal after a split brain (docs/penvrrp.md "Protocol behaviour").
        self.adver_at = now + self.cfg.interval_cs / 100.0
        acts = self._assert_log(src, adv.priority, now) + self._send(self.priority)
        if now - self.lower_garp_at >= 1.0:
            self.lower_garp_at = now
            acts.append(Announce(self.cfg.garp_repeat))
        return acts

    def _assert_log(self, src: str, prio: int, now: float) -> list[Action]:
        """One line per ASSERT_LOG_EVERY seconds: a partition sends one advert per interval."""
        if now - self.assert_log_at < ASSERT_LOG_EVERY:
            self.assert_suppressed += 1
            return []
        more = f" ({self.assert_suppressed} more since the last report)" if self.assert_suppressed else ""
        self.assert_log_at, self.assert_suppressed = now, 0
        return [Log("info", f"lower-priority advert from {src} ({prio}, ours {self.priority}): "
                            f"asserting mastership{more}")]

    # -- transitions ---------------------------------------------------------------
    def _send(self, priority: int) -> list[Action]:
        self.counters["adverts_sent"] += 1
        if priority == 0:
            self.counters["priority_zero_sent"] += 1
        return [SendAdvert(priority)]

    def _clear_timers(self) -> None:
        self.adver_at = self.down_at = self.garp_at = self.refresh_at = None

    def _transition(self, state: State, now: float) -> None:
        if state != self.state:
            self.counters["transitions"] += 1
        self.state = state
        self.last_transition = now

    def _become_master(self, now: float) -> list[Action]:
        """RFC 9568 §6.4.1/§6.4.2: VIPs, one advert at once, then GARP (keepalived: a burst now,
        another after garp_delay, optional refresh)."""
        self._clear_timers()
        acts: list[Action] = []
        if self.handover_from is not None and self.handover_from != self.my_addr:
            # before the VIPs and their GARPs (loaded already, unless the peer changed)
            acts += self._arm_forward(self.handover_from)
            self.forward_until = now + self.cfg.release_delay + FORWARD_MARGIN
        elif self.forward_until is None:
            acts += self._disarm_forward()
        self.handover_from = None
        self.release_at = None
        self.hidden = False
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
        return acts + [AddVips(), *self._send(self.priority), Announce(self.cfg.garp_repeat),
                       Notify(State.MASTER, self.priority)]

    def _become_backup(self, now: float) -> list[Action]:
        acts: list[Action] = []
        if self.state == State.MASTER:
            # stepping down to a master we just heard: keep serving what still reaches us
            self.counters["release_master"] += 1
            self.release_at = now + self.cfg.release_delay
            acts += self._hide() + self._release_due(now)
        self._clear_timers()
        acts += self._disarm_forward()
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
            self._hold_vips(now)
        elif self.release_at is None:
            acts.append(DelVips())
        acts += self._disarm_forward()
        self._clear_timers()
        self._transition(State.FAULT, now)
        return acts + [Log("warning", "a tracked object without weight failed: FAULT"),
                       Notify(State.FAULT, self.priority)]
