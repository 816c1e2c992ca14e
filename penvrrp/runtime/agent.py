"""The penvrrp daemon: instances, link monitoring, the state file and signals.

SIGTERM/SIGINT: every instance resigns (priority 0) and removes its VIPs.  SIGHUP:
re-read the configuration; an instance whose config is unchanged keeps running
(and keeps its VIP), a changed one is restarted, new ones start, removed ones stop.
A configuration that fails to load is reported and the running one kept.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import time
from collections.abc import Callable
from typing import Any

from penvrrp.core.config import Config, ConfigError, InstanceConfig
from penvrrp.runtime.instance import InstanceRunner
from penvrrp.runtime.netlink import LinkMonitor, Netlink

log = logging.getLogger("penvrrp")

STATE_REFRESH = 1.0  # rewrite at least this often (counters, "since")
STATE_DIRTY_DELAY = 0.1  # and this soon after a counter changed


class Agent:
    def __init__(self, load: Callable[[], Config]) -> None:
        self.load = load
        self.config: Config | None = None
        self.runners: dict[str, InstanceRunner] = {}
        self.nl: Netlink | None = None
        self.monitor: LinkMonitor | None = None
        self.stopping = asyncio.Event()
        self.dirty = asyncio.Event()
        self.reloading = False

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        self.config = self.load()
        self.nl = Netlink()
        self.monitor = LinkMonitor(self._link_changed)
        await self.monitor.start()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self.reload()))
        writer = asyncio.create_task(self._state_writer())
        try:
            for inst in self.config.instances:
                await self._start(inst)
            await self.stopping.wait()
            log.info("stopping: resigning and removing VIPs")
        finally:
            await asyncio.gather(*(r.stop() for r in self.runners.values()), return_exceptions=True)
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
            self._write_state()
            await self.monitor.stop()
            await self.nl.close()
        return 0

    async def _start(self, inst: InstanceConfig) -> None:
        assert self.nl is not None
        runner = InstanceRunner(inst, self.nl, self._changed)
        self.runners[inst.name] = runner
        try:
            await runner.start()
        except Exception:
            del self.runners[inst.name]
            await runner.stop()
            raise

    async def reload(self) -> None:
        if self.reloading or self.stopping.is_set():
            return
        self.reloading = True
        try:
            try:
                new = self.load()
            except ConfigError as exc:
                log.error("reload refused, keeping the running configuration: %s", exc)
                return
            old = {r.cfg.name: r.cfg for r in self.runners.values()}
            wanted = {i.name: i for i in new.instances}
            for name, cfg in old.items():
                if wanted.get(name) != cfg:
                    log.info("reload: stopping instance %s (%s)", name, "changed" if name in wanted else "removed")
                    await self.runners.pop(name).stop()
            for name, cfg in wanted.items():
                if name not in self.runners:
                    log.info("reload: starting instance %s", name)
                    try:
                        await self._start(cfg)
                    except Exception as exc:
                        log.error("reload: instance %s failed to start: %s", name, exc)
                else:
                    log.info("reload: instance %s unchanged, kept running", name)
            self.config = new
            self._changed(urgent=True)
        finally:
            self.reloading = False

    def _link_changed(self, ifname: str, up: bool) -> None:
        for runner in list(self.runners.values()):
            runner.link_changed(ifname, up)

    def _changed(self, urgent: bool) -> None:
        if urgent:
            self._write_state()
        else:
            self.dirty.set()

    async def _state_writer(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(STATE_DIRTY_DELAY)
            if self.dirty.is_set() or loop.time() - last >= STATE_REFRESH:
                self.dirty.clear()
                self._write_state()
                last = loop.time()

    def document(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "written": time.time(),
                "instances": [r.snapshot() for r in self.runners.values() if r.fsm is not None]}

    def _write_state(self) -> None:
        """Atomic replace, so ``penvrrp status`` never reads half a file."""
        if self.config is None:
            return
        path = self.config.state_file
        try:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "w") as fh:
                json.dump(self.document(), fh, indent=1)
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("cannot write state file %s: %s", path, exc)
