"""The penvrrp daemon: instances, link monitoring, the state file and signals.

SIGTERM/SIGINT: every instance resigns (priority 0) and removes its VIPs.  SIGHUP:
re-read the configuration; an instance whose config is unchanged keeps running
(and keeps its VIP), a changed one is restarted, new ones start, removed ones stop.
A configuration that fails to load is reported and the running one kept.

Under systemd (Type=notify, deploy/systemd/penvrrp.service) it sends READY=1 once every
instance runs, RELOADING=1/READY=1 around a reload, STOPPING=1, and WATCHDOG=1 from the
event loop itself, so a frozen agent stops pinging and is restarted.
"""

from __future__ import annotations

import asyncio
import faulthandler
import json
import logging
import os
import signal
import time
from collections.abc import Callable
from typing import Any

from pen.engine import sdnotify
from penvrrp.core.config import Config, ConfigError, InstanceConfig
from penvrrp.runtime.instance import InstanceRunner
from penvrrp.runtime.metrics_server import MetricsServer
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
        pinger = asyncio.create_task(self._watchdog())
        tracer = asyncio.create_task(self._stall_trace())
        metrics: MetricsServer | None = None
        try:
            for inst in self.config.instances:
                await self._start(inst)
            if self.config.metrics_listen:
                metrics = MetricsServer(self.config.metrics_listen, self.instance_docs, self.config.node_name)
                await metrics.start()
            sdnotify.notify("READY=1", f"STATUS={len(self.runners)} instance(s) running")
            await self.stopping.wait()
            sdnotify.notify("STOPPING=1")
            log.info("stopping: resigning and removing VIPs")
        finally:
            pinger.cancel()
            tracer.cancel()
            if metrics is not None:
                await metrics.close()
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
        sdnotify.notify("RELOADING=1")
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
            sdnotify.notify("READY=1")

    def _link_changed(self, ifname: str, up: bool) -> None:
        for runner in list(self.runners.values()):
            runner.link_changed(ifname, up)

    def _changed(self, urgent: bool) -> None:
        if urgent:
            self._write_state()
        else:
            self.dirty.set()

    async def _watchdog(self) -> None:
        interval = sdnotify.watchdog_interval()
        if interval is None:
            return
        while True:        # half of systemd's suggestion: a loaded machine delays timers
            sdnotify.notify("WATCHDOG=1")
            await asyncio.sleep(interval / 2)

    async def _stall_trace(self) -> None:
        """PENVRRP_STALL_TRACE=S (a diagnostic, docs/penvrrp.md "Files and logs"): when the
        event loop does not come back for S seconds, faulthandler prints every thread's stack
        to stderr, so a blocked loop names what blocks it."""
        try:
            limit = float(os.environ.get("PENVRRP_STALL_TRACE", "0"))
        except ValueError:
            limit = 0.0
        if limit <= 0:
            return
        try:
            while True:
                faulthandler.dump_traceback_later(limit, exit=False)
                await asyncio.sleep(limit / 4)
        finally:
            faulthandler.cancel_dump_traceback_later()

    def refresh_interval(self) -> float:
        """`penvrrp status` calls a file older than 3 advert intervals stale: write often
        enough that a live agent never looks stale."""
        intervals = [i.interval_cs / 100.0 for i in (self.config.instances if self.config else ())]
        return min([STATE_REFRESH, *intervals])

    async def _state_writer(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(STATE_DIRTY_DELAY)
            if self.dirty.is_set() or loop.time() - last >= self.refresh_interval():
                self.dirty.clear()
                self._write_state()
                last = loop.time()

    def instance_docs(self) -> list[dict[str, Any]]:
        return [r.snapshot() for r in self.runners.values() if r.fsm is not None]

    def document(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "written": time.time(), "instances": self.instance_docs()}

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
