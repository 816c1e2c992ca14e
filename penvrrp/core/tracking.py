"""Tracked objects (pen, interfaces, scripts) and what they do to the priority.

keepalived's rules (keepalived.conf(5), track_script / track_interface; docs/penvrrp.md
"Tracking"): weight 0 means a failure puts the instance in FAULT; a negative weight is added
to the priority while failing; a positive weight is added while succeeding.  The
result stays within 1-254, and an address owner (255) is never moved (RFC 9568 §6.1).
"""

from __future__ import annotations

from pen.core.numbers import ascii_decimal

from dataclasses import dataclass


@dataclass(slots=True)
class TrackState:
    """One tracked object with keepalived's rise/fall hysteresis.

    ``ok`` is None until the first result arrives, which decides at once: a node
    that starts without its pen must not first claim the VIP and then drop it.
    """

    name: str
    weight: int = 0
    rise: int = 1
    fall: int = 1
    ok: bool | None = None
    streak: int = 0
    detail: str = ""

    def observe(self, ok: bool, detail: str = "") -> bool:
        """Record one probe result; True when the tracked state changed."""
        self.detail = detail
        if self.ok is None:
            self.ok = ok
            self.streak = 0
            return True
        if ok == self.ok:
            self.streak = 0
            return False
        self.streak += 1
        if self.streak >= (self.rise if ok else self.fall):
            self.ok = ok
            self.streak = 0
            return True
        return False

    def fail_now(self, detail: str) -> bool:
        """A certain failure (the tracked process is gone): no `fall` hysteresis, which is
        there for flaky answers, not for a process that exited.  True when that changed it."""
        self.detail = detail
        changed = self.ok is not False
        self.ok, self.streak = False, 0
        return changed

    @property
    def failing(self) -> bool:
        return self.ok is False


def effective(base: int, tracks: list[TrackState]) -> tuple[int, bool]:
    """(priority, fault) from the configured priority and the tracked objects."""
    fault = any(t.failing and t.weight == 0 for t in tracks)
    if base == 255:
        return base, fault
    prio = base
    for t in tracks:
        if t.weight < 0 and t.failing:
            prio += t.weight
        elif t.weight > 0 and t.ok:
            prio += t.weight
    return max(1, min(254, prio)), fault


def parse_pid_reply(reply: bytes) -> int | None:
    """pen's control protocol answers ``pid`` with the process id (penctl(1) `pid`)."""
    text = reply.decode("ascii", "replace").strip()
    first = text.split()[0] if text else ""
    return ascii_decimal(first, 10)


def can_serve(tracks: list[TrackState]) -> bool:
    """False while a pen tracker fails: that node's pen can use no server, so it must not
    take the VIP from a master that may still serve (docs/penvrrp.md "Tracking")."""
    return not any(t.failing for t in tracks if t.name.startswith("pen:"))
