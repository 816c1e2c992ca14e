"""The event loop: level-triggered `select.epoll` and a timer heap (docs/architecture.md).

Measured on this machine, asyncio costs 2-4x more CPU per connection than a raw epoll loop
(docs/architecture.md, bench/), so the data plane runs on this instead.  Handlers are plain
callables taking the event mask; timers are cancellable heap entries.  Nothing here blocks
except the epoll wait itself.

The clock comes from outside (`clock`, time.monotonic by default): tests drive the loop one
pass at a time (`run_once`) with a fake clock, so timeouts take no real time.
"""
from __future__ import annotations

import heapq
import itertools
import logging
import select
import time
from typing import Callable, Final

# Final: a compiled module (scripts/compile.sh) reads these from a C variable, not by name
EPOLLIN: Final = int(select.EPOLLIN)
EPOLLOUT: Final = int(select.EPOLLOUT)
EPOLLERR: Final = int(select.EPOLLERR)
EPOLLHUP: Final = int(select.EPOLLHUP)
EPOLLRDHUP: Final = int(select.EPOLLRDHUP)

Handler = Callable[[int], None]

log = logging.getLogger("pen")


class Timer:
    __slots__ = ("when", "callback", "cancelled")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when, self.callback, self.cancelled = when, callback, False

    def cancel(self) -> None:
        self.cancelled = True


class Reactor:
    __slots__ = ("epoll", "handlers", "masks", "timers", "seq", "running", "now", "idle_hooks",
                 "max_wait", "clock")

    def __init__(self, max_wait: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.epoll = select.epoll()
        self.handlers: dict[int, Handler] = {}
        self.masks: dict[int, int] = {}
        self.timers: list[tuple[float, int, Timer]] = []
        self.seq = itertools.count()
        self.running = False
        self.now = clock()
        self.idle_hooks: list[Callable[[], None]] = []   # run after every pass
        self.max_wait = max_wait

    # -- file descriptors -------------------------------------------------------------------
    def add(self, fd: int, mask: int, handler: Handler) -> None:
        self.handlers[fd] = handler
        self.masks[fd] = mask
        if mask:
            self.epoll.register(fd, mask)

    def set_mask(self, fd: int, mask: int) -> None:
        """Change interest; a mask of 0 takes the fd out of epoll so a HUP cannot spin."""
        old = self.masks.get(fd)
        if old == mask or old is None:
            return
        self.masks[fd] = mask
        if not old:
            self.epoll.register(fd, mask)
        elif not mask:
            self.epoll.unregister(fd)
        else:
            self.epoll.modify(fd, mask)

    def set_handler(self, fd: int, handler: Handler) -> None:
        """Another handler for a registered fd (the same interest mask)."""
        self.handlers[fd] = handler

    def forget(self, fd: int) -> None:
        """Drop an fd that is about to be closed: close() takes it out of epoll by itself, so
        the epoll_ctl(DEL) that remove() makes would be a wasted syscall."""
        self.handlers.pop(fd, None)
        self.masks.pop(fd, None)

    def remove(self, fd: int) -> None:
        self.handlers.pop(fd, None)
        if self.masks.pop(fd, 0):
            try:
                self.epoll.unregister(fd)
            except (OSError, ValueError):
                pass

    # -- timers ------------------------------------------------------------------------------
    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(when, callback)
        heapq.heappush(self.timers, (when, next(self.seq), timer))
        return timer

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        return self.call_at(self.clock() + delay, callback)

    def every(self, interval: float, callback: Callable[[], None]) -> None:
        def tick() -> None:
            callback()
            self.call_later(interval, tick)
        self.call_later(interval, tick)

    # -- the loop ----------------------------------------------------------------------------
    def stop(self) -> None:
        self.running = False

    def run(self) -> None:
        self.running = True
        poll = self.epoll.poll
        timers = self.timers
        max_wait = self.max_wait
        monotonic = self.clock
        now = monotonic()
        while self.running:
            wait = max_wait
            if timers:
                # from the time after the last poll (one clock read per pass, not two); the
                # few microseconds of handling since then only make the wait that much longer
                wait = timers[0][0] - now
                if wait > max_wait:
                    wait = max_wait
                elif wait < 0.0:
                    wait = 0.0
            events = poll(wait, 1024)
            self.now = now = monotonic()
            self._handle(events, now)

    def run_once(self, timeout: float = 0.0) -> int:
        """One pass of `run`: wait at most `timeout` s for events (less when a timer is due by
        the clock), run their handlers, the due timers and the idle hooks.  The events seen."""
        now = self.clock()
        if self.timers:
            timeout = min(timeout, max(0.0, self.timers[0][0] - now))
        events = self.epoll.poll(timeout, 1024)
        self.now = now = self.clock()
        self._handle(events, now)
        return len(events)

    def _handle(self, events: list[tuple[int, int]], now: float) -> None:
        """One pass's work after the poll: the events' handlers, the timers due at `now`, the
        idle hooks; an exception in any of them is contained, never the loop's end."""
        handlers = self.handlers
        for fd, ev in events:
            handler = handlers.get(fd)
            if handler is not None:
                try:
                    handler(ev)
                except Exception:          # a bug must cost one connection, not pen
                    self._contain(fd, handler)
        timers = self.timers
        while timers and timers[0][0] <= now:
            _, _, timer = heapq.heappop(timers)
            if not timer.cancelled:
                try:
                    timer.callback()
                except Exception:
                    log.exception("internal error in a timer; continuing")
        for hook in self.idle_hooks:
            try:
                hook()
            except Exception:
                log.exception("internal error in the loop; continuing")

    def _contain(self, fd: int, handler: Handler) -> None:
        """Log an exception from a handler and close what it belongs to, so the loop goes on
        and a level-triggered fd cannot spin on the same failure."""
        log.exception("internal error on fd %d; closing it", fd)
        owner = getattr(handler, "__self__", None)
        close = getattr(owner, "close", None)
        try:
            if callable(close):
                close()
        except Exception:
            log.exception("closing fd %d after an internal error", fd)
        if fd in self.handlers and self.handlers[fd] is handler:
            self.remove(fd)

    def close(self) -> None:
        self.epoll.close()
