"""Notify scripts with keepalived's calling convention (keepalived.conf(5)
`notify`; docs/penvrrp.md "Notify scripts").

``notify SCRIPT`` runs as ``SCRIPT INSTANCE NAME STATE PRIORITY`` (observed:
``INSTANCE VI_51 MASTER 100``); ``notify_master`` / ``_backup`` / ``_fault`` / ``_stop``
run without arguments.  Scripts run detached from the event loop, in order per
instance, and a slow script never delays an advert.
"""

from __future__ import annotations

import asyncio
import logging
import shlex

from penvrrp.core.config import InstanceConfig
from penvrrp.core.fsm import State

log = logging.getLogger("penvrrp")


def commands(cfg: InstanceConfig, state: State, priority: int) -> list[list[str]]:
    """The argv lists to run for one transition, state-specific script first."""
    specific = {State.MASTER: cfg.notify_master, State.BACKUP: cfg.notify_backup,
                State.FAULT: cfg.notify_fault, State.STOP: cfg.notify_stop}.get(state)
    out: list[list[str]] = []
    if specific:
        out.append(shlex.split(specific))
    if cfg.notify:
        out.append([*shlex.split(cfg.notify), "INSTANCE", cfg.name, state.value, str(priority)])
    return out


class Notifier:
    """Runs one instance's notify scripts one after the other."""

    def __init__(self, timeout: float = 30.0) -> None:
        self.queue: asyncio.Queue[list[str]] = asyncio.Queue()
        self.timeout = timeout
        self.task = asyncio.create_task(self._run())

    def submit(self, argvs: list[list[str]]) -> None:
        for argv in argvs:
            self.queue.put_nowait(argv)

    async def _run(self) -> None:
        while True:
            argv = await self.queue.get()
            try:
                await self._one(argv)
            finally:
                self.queue.task_done()

    async def _one(self, argv: list[str]) -> None:
        try:
            proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL)
            try:
                async with asyncio.timeout(self.timeout):
                    rc = await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()
                log.warning("notify %s killed after %g s", argv[0], self.timeout)
                return
            if rc != 0:
                log.warning("notify %s exited with status %d", " ".join(argv), rc)
        except OSError as exc:
            log.error("notify %s could not run: %s", argv[0], exc)

    async def drain(self, timeout: float) -> None:
        """Let queued scripts (notably STOP) finish before exiting, within ``timeout``."""
        try:
            async with asyncio.timeout(timeout):
                await self.queue.join()
        except TimeoutError:
            log.warning("notify scripts still running at exit")

    async def close(self) -> None:
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass
