"""The event loop: level-triggered `select.epoll` and a timer heap (spec/architecture.md).

Measured on this machine, asyncio costs 2-4x more CPU per connection than a raw epoll loop
(spec/performance.md), so the data plane runs on this instead.  Handlers are plain callables
taking the event mask; timers are cancellable heap entries.  Nothing here blocks except the
epoll wait itself.
"""
from __future__ import annotations

import heapq
import itertools
import logging
import select
import time
from typing import Callable

EPOLLIN = select.EPOLLIN
EPOLLOUT = select.EPOLLOUT
EPOLLERR = select.EPOLLERR
EPOLLHUP = select.EPOLLHUP
EPOLLRDHUP = select.EPOLLRDHUP

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
                 "max_wait")

    def __init__(self, max_wait: float = 1.0) -> None:
        self.epoll = select.epoll()
        self.handlers: dict[int, Handler] = {}
        self.masks: dict[int, int] = {}
        self.timers: list[tuple[float, int, Timer]] = []
        self.seq = itertools.count()
        self.running = False
        self.now = time.monotonic()
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
        return self.call_at(time.monotonic() + delay, callback)

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
        handlers = self.handlers
        timers = self.timers
        while self.running:
            wait = self.max_wait
            if timers:
                wait = min(wait, max(0.0, timers[0][0] - time.monotonic()))
            events = poll(wait, 1024)
            self.now = now = time.monotonic()
            for fd, ev in events:
                handler = handlers.get(fd)
                if handler is not None:
                    try:
                        handler(ev)
                    except Exception:          # a bug must cost one connection, not pen
                        self._contain(fd, handler)
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
