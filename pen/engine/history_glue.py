"""Feeds pen.core.history from the event loop: one sample of every server per interval.

The sampler runs on pen's own reactor (a timer, never a thread), takes microseconds per
server, and never raises into the loop.  `PEN_HISTORY_INTERVAL` (seconds, default 5) changes
the sampling period: the window kept is interval x capacity (15 minutes by default).
"""
from __future__ import annotations

import logging
import os

from pen.core.history import DEFAULT_CAPACITY, DEFAULT_INTERVAL, History
from pen.engine.balancer import Balancer

log = logging.getLogger("pen")

MIN_INTERVAL = 0.05


def interval_from_env(env: dict[str, str] | os._Environ = os.environ) -> float:
    text = env.get("PEN_HISTORY_INTERVAL", "")
    if not text:
        return DEFAULT_INTERVAL
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value >= MIN_INTERVAL:
        log.warning("PEN_HISTORY_INTERVAL=%r is not a number >= %s; using %s s", text,
                    MIN_INTERVAL, DEFAULT_INTERVAL)
        return DEFAULT_INTERVAL
    return value


def attach(bal: Balancer, interval: float | None = None) -> History:
    """Start sampling `bal`'s servers now and every `interval` seconds."""
    hist = History(interval or interval_from_env(), DEFAULT_CAPACITY)
    bal.history = hist
    servers = bal.state.servers

    def sample() -> None:
        try:
            hist.sample(bal.wall(bal.reactor.clock()),
                        [(sv.index, sv.address_text(), sv.c, sv.pending, sv.sx, sv.rx, sv.total,
                          sv.failures) for sv in servers.servers if sv.configured])
        except Exception:                      # a bug here must not stop the loop's timers
            log.exception("history sample failed")

    sample()
    bal.reactor.every(hist.interval, sample)
    return hist

