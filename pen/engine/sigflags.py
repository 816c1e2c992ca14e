"""Signals as flags the loop reads (docs/pen.md "Signals"; C pen did the same).

A handler only records the signal; a wakeup pipe in the reactor makes the epoll wait return at
once, and an idle hook hands the recorded signals, in order, to the caller's `act`.  Used by
the main process (pen.engine.daemon) and by each worker (pen.engine.worker).
"""
from __future__ import annotations

import os
import signal
from typing import Callable, Iterable

from pen.engine.reactor import EPOLLIN, Reactor


def on_signals(reactor: Reactor, caught: Iterable[int], act: Callable[[int], None]) -> None:
    rfd, wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wfd, warn_on_full_buffer=False)
    flags: dict[int, bool] = {}

    def handler(signum: int, frame: object) -> None:
        flags[signum] = True

    for sig in caught:
        signal.signal(sig, handler)

    def on_wakeup(ev: int) -> None:
        try:
            while os.read(rfd, 512):
                pass
        except BlockingIOError:
            pass

    def dispatch() -> None:
        if not flags:
            return
        pending = list(flags)
        flags.clear()
        for signum in pending:
            act(signum)

    reactor.add(rfd, EPOLLIN, on_wakeup)
    reactor.idle_hooks.append(dispatch)
