"""webstats in a real browser: headless Chromium loads the page from `webstats` serving a live
pen, the rendered DOM is checked (server rows, charts, nothing injected) and screenshots are
saved as artefacts (tests/artifacts/webstats-desktop.png, webstats-phone.png)."""
from __future__ import annotations

import json
import shutil
import struct
import tempfile
from pathlib import Path

import pytest

from support.control import cmd, start_pen
from support.webstats import (ARTIFACTS, CHROMIUM, WebstatsServer, assert_inert, chromium,
                              traffic)
from support.procs import dead_port, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not CHROMIUM.exists(),
                                 reason="needs Debian's chromium (scripts/debian-packages.txt)")]

SERVER_PATH = "/run/pen/<script>alert(1)</script><img/src/onerror=alert(2)>"


def samples(ctl: str) -> int:
    data = json.loads(cmd(ctl, "history_json"))["servers"]
    return min((len(s["t"]) for s in data.values()), default=0)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


@pytest.fixture
def served(backends):
    a, b = backends("echo", "a", "b")
    directory = Path(tempfile.mkdtemp(prefix="wsb-"))
    pen, ctl = start_pen(directory, a.addr, b.addr, f"127.0.0.1:{dead_port()}", opts=["-r"],
                         history_interval=0.25)
    ws = None
    try:
        assert cmd(ctl, f"server 3 address {SERVER_PATH} port 0") == ""
        assert cmd(ctl, "server 1 drain") == ""
        assert cmd(ctl, "server 2 blacklist 300") == ""
        for burst in range(8):       # uneven load held across samples: charts with a shape
            held = [pen.connect() for _ in range((0, 2, 5, 3, 6, 1, 4, 0)[burst])]
            traffic(pen, connections=1 + burst % 3, size=60000 * (1 + burst % 4))
            seen = samples(ctl)
            wait_for(lambda: samples(ctl) > seen + 1, 10, 0.05, "new history samples")
            for sock in held:
                sock.close()
        ws = WebstatsServer(ctl, "--actions", env={"WEBSTATS_SECRET": "browser"})
        yield ws
    finally:
        if ws is not None:
            ws.stop()
        pen.stop()
        shutil.rmtree(directory, ignore_errors=True)


def test_page_renders_in_chromium(served) -> None:
    url = served.url + "/?refresh=0"
    out = chromium("--dump-dom", url)
    assert out.returncode == 0, out.stderr[-2000:]
    dom = assert_inert(out.stdout, [SERVER_PATH])
    rows = dom.find("tr", "server")
    assert [r.attrs["data-state"] for r in rows] == ["up", "draining", "blacklisted",
                                                      "blacklisted"]
    assert SERVER_PATH in rows[3].text
    charts = dom.find("svg", "chart")
    assert len(charts) == 4
    assert all(int(c.attrs["data-samples"]) >= 16 for c in charts[:3])
    lines = [p.attrs["d"] for p in dom.find("path", "conn-line")]
    assert len(lines) == 4 and all(d.count("L") >= 5 for d in lines[:3])
    assert len(dom.find("path", "recv-line")) == 4
    assert dom.by_id("card-conns") is not None and dom.by_id("settings") is not None
    assert len(dom.find("form")) == 4

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for name, size in (("desktop", (1280, 1500)), ("phone", (390, 2000))):
        path = ARTIFACTS / f"webstats-{name}.png"
        path.unlink(missing_ok=True)
        shot = chromium(f"--screenshot={path}", f"--window-size={size[0]},{size[1]}", url)
        assert shot.returncode == 0 and path.exists(), shot.stderr[-2000:]
        assert png_size(path) == size
        assert path.stat().st_size > 20_000, "the screenshot looks blank"
