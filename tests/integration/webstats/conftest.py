"""A live pen for webstats tests: two echo backends, a dead server, history every 0.2 s."""
from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.control import cmd, start_pen
from support.webstats import HISTORY_INTERVAL
from support.procs import Pen, dead_port, wait_for


@dataclass
class Live:
    pen: Pen
    ctl: str
    dir: Path

    def history_samples(self, index: int) -> int:
        data = json.loads(cmd(self.ctl, "history_json"))
        return len(data["servers"].get(str(index), {}).get("t", []))

    def wait_samples(self, n: int, index: int = 0) -> None:
        wait_for(lambda: self.history_samples(index) >= n, 10, 0.05, f"{n} history samples")


@pytest.fixture
def short_dir():
    """A short directory (unix socket paths must stay under 108 bytes)."""
    d = Path(tempfile.mkdtemp(prefix="ws-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def live(short_dir, backends):
    """pen -r with servers 0 and 1 (echo) and 2 (nothing listens); unix control socket."""
    a, b = backends("echo", "a", "b")
    pen, ctl = start_pen(short_dir, a.addr, b.addr, f"127.0.0.1:{dead_port()}", opts=["-r"],
                         history_interval=HISTORY_INTERVAL)
    yield Live(pen, ctl, short_dir)
    pen.stop()
