"""webstats beside penvrrp: the node's VRRP state on the status page, and the cluster page
with every node (pen and penvrrp) on one screen, against real pens and small real HTTP
servers serving penvrrp's /status.json contract (a stand-in until penvrrp's endpoint, being
built, can be started here: tests/support/webstats.py VrrpStandIn)."""
from __future__ import annotations

import json
import time

import pytest

from support.control import start_pen
from support.webstats import (HISTORY_INTERVAL, Dom, VrrpStandIn, WebstatsServer, assert_inert,
                              vrrp_instance)
from support.procs import dead_port

EVIL = "<script>alert(1)</script><img src=x onerror=alert(2)>"


@pytest.fixture
def pair(short_dir, backends):
    """Two pens (lb1, lb2) with their stand-in penvrrp: lb1 MASTER, lb2 BACKUP."""
    a, b = backends("echo", "a", "b")
    pens = [start_pen(short_dir, a.addr, b.addr, opts=["-r"], history_interval=HISTORY_INTERVAL)
            for _ in range(2)]
    standins = [VrrpStandIn("lb1", vrrp_instance()),
                VrrpStandIn("lb2", vrrp_instance(state="BACKUP", priority=100))]
    yield pens, standins
    for s in standins:
        s.stop()
    for pen, _ in pens:
        pen.stop()


def cluster_file(short_dir, pens, standins, extra: str = "") -> str:
    path = short_dir / "cluster.toml"
    text = "".join(f'[[node]]\nname = "lb{i + 1}"\ncontrol = "{ctl}"\nvrrp = "{s.url}"\n'
                   for i, ((_, ctl), s) in enumerate(zip(pens, standins)))
    path.write_text(text + extra)
    return str(path)


def test_status_page_shows_this_nodes_vrrp_state(pair, short_dir) -> None:
    (pens, standins) = pair
    ctl = pens[0][1]
    ws = WebstatsServer(ctl, "--vrrp-status", standins[0].url)
    try:
        status, _, body = ws.get("/?refresh=0")
        dom = assert_inert(body.decode(), [])
        assert status == 200
        rows = dom.find("tr", "vrrp-instance")
        assert [(r.attrs["data-instance"], r.attrs["data-state"]) for r in rows] == \
            [("VI_51", "MASTER")]
        assert "192.0.2.100/24" in rows[0].text and "42 s" in rows[0].text
        assert [el.attrs["data-vrrp"] for el in dom.find("span", "vrrp")] == ["VI_51"]
        # the JSON carries it too
        _, _, api = ws.get("/api/status")
        assert json.loads(api)["vrrp"]["instances"][0]["state"] == "MASTER"
        # penvrrp goes away: the page still renders pen, and says why VRRP is missing
        standins[0].status = 500
        status, _, body = ws.get("/?refresh=0")
        dom = Dom(body.decode())
        assert status == 200 and dom.find("tr", "server")
        assert "HTTP 500" in dom.by_id("vrrp-error").text
        standins[0].status = 200
        standins[0].raw = b"{not json"
        _, _, body = ws.get("/?refresh=0")
        assert "VRRP status" in Dom(body.decode()).by_id("vrrp-error").text
    finally:
        ws.stop()


def test_cluster_page_shows_every_node_and_unreachable_ones(pair, short_dir) -> None:
    (pens, standins) = pair
    dead = f"127.0.0.1:{dead_port()}"
    path = cluster_file(short_dir, pens, standins,
                        f'[[node]]\nname = "{EVIL}"\ncontrol = "{dead}"\n'
                        f'vrrp = "http://127.0.0.1:{dead_port()}/status.json"\n')
    ws = WebstatsServer(pens[0][1], "--cluster", path, "--timeout", "2")
    try:
        status, _, body = ws.get("/cluster")
        page = body.decode()
        dom = assert_inert(page, [EVIL])
        assert status == 200 and "Traceback" not in page
        cards = dom.find("article", "node")
        assert [c.attrs["data-node"] for c in cards] == ["lb1", "lb2", EVIL]
        assert [c.attrs["data-pen"] for c in cards] == ["up", "up", "down"]
        states = [(r.attrs["data-instance"], r.attrs["data-state"])
                  for r in dom.find("tr", "vrrp-instance")]
        assert states == [("VI_51", "MASTER"), ("VI_51", "BACKUP")]
        assert "servers usable2 of 2" in cards[0].text and "servers usable2 of 2" in cards[1].text
        assert "pen unreachable" in cards[2].text and "error connecting" in cards[2].text
        assert dom.find("div", "vrrp-error") and dom.by_id("cluster-warning") is None
        # the status page links to it
        _, _, front = ws.get("/?refresh=0")
        assert any(a.attrs["href"] == "/cluster" for a in Dom(front.decode()).find("a"))

        # both claim MASTER: the page says split brain first
        standins[1].doc = {"node": "lb2", "instances": [vrrp_instance()]}
        _, _, body = ws.get("/cluster")
        warning = Dom(body.decode()).by_id("cluster-warning")
        assert warning is not None and "split brain" in warning.text and "lb1 and lb2" in warning.text
        _, _, api = ws.get("/api/cluster")
        data = json.loads(api)
        assert data["warnings"] and [n["name"] for n in data["nodes"]] == ["lb1", "lb2", EVIL]
        assert "error" in data["nodes"][2]["pen"] and "error" in data["nodes"][2]["vrrp"]
    finally:
        ws.stop()


def test_a_hanging_node_costs_one_timeout(pair, short_dir) -> None:
    (pens, standins) = pair
    standins[1].delay = 5
    ws = WebstatsServer(pens[0][1], "--cluster", cluster_file(short_dir, pens, standins),
                        "--timeout", "1")
    try:
        started = time.monotonic()
        status, _, body = ws.get("/cluster")
        took = time.monotonic() - started
        cards = Dom(body.decode()).find("article", "node")
        assert status == 200 and [c.attrs["data-pen"] for c in cards] == ["up", "up"]
        assert "timed out" in cards[1].text, cards[1].text
        assert took < 4.5, took      # bounded by the timeout, not the node's 5 s
    finally:
        ws.stop()


def test_bad_cluster_file_and_no_cluster(pair, short_dir) -> None:
    (pens, _) = pair
    bad = short_dir / "bad.toml"
    bad.write_text('[[node]]\nname = "lb1"\n')
    import subprocess
    from support.webstats import WEBSTATS
    r = subprocess.run([str(WEBSTATS), "--control", pens[0][1], "--cluster", str(bad)],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 2 and "'control'" in r.stderr and "Traceback" not in r.stderr
    ws = WebstatsServer(pens[0][1])
    try:
        status, _, body = ws.get("/cluster")
        assert status == 404 and "no cluster configured" in body.decode()
    finally:
        ws.stop()


def test_cgi_takes_both_from_its_environment(pair, short_dir) -> None:
    from support.webstats import run_cgi
    (pens, standins) = pair
    env = {"WEBSTATS_VRRP": standins[1].url,
           "WEBSTATS_CLUSTER": cluster_file(short_dir, pens, standins)}
    page = run_cgi(pens[1][1], query="refresh=0", env=env)
    rows = Dom(page.text).find("tr", "vrrp-instance")
    assert page.status == 200 and [r.attrs["data-state"] for r in rows] == ["BACKUP"]
    nodes = run_cgi(pens[1][1], "/cluster", env=env)
    assert nodes.status == 200 and len(Dom(nodes.text).find("article", "node")) == 2
    assert "/cgi-bin/webstats/" in nodes.text            # links keep the script's path
    broken = run_cgi(pens[1][1], "/cluster", env={"WEBSTATS_CLUSTER": str(short_dir / "none")})
    assert broken.status == 404 and "cannot read cluster file" in broken.text
