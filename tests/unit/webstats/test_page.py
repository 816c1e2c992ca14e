"""The status page renderer: structure, escaping of everything from pen, robustness."""
from __future__ import annotations

import copy

from support.webstats import MARKUP, Dom, assert_inert
from pen.core.history import History
from webstats.page import View, render


def server(i: int, **kw) -> dict:
    s = {"index": i, "address": f"10.0.0.{i + 1}", "port": 8080, "status": 0, "conn": i,
         "pending": 0, "max": 10, "hard": 0, "sx": 1024 * i, "rx": 2048 * i, "weight": 1,
         "prio": 0, "acl": 0, "total": 5 * i, "failures": 0, "blacklisted": False,
         "blacklist_left": 0.0, "state": "up", "drain": False, "configured": True,
         "effective_weight": 1}
    s.update(kw)
    return s


def status(*servers: dict) -> dict:
    return {"time": 1_700_000_000, "current": 0, "mode": "no hash roundrobin", "modes":
            ["roundrobin"], "servers": list(servers), "clients_max": 2048,
            "clients": [{"index": 0, "address": "192.0.2.7", "age": 3, "last_server": 1,
                         "connects": 4, "sx": 10, "rx": 20}], "clients_used": 1,
            "conn_max": 500, "conn_used": 1, "conn_last": 1, "connections": [],
            "version": "0.1.0", "settings": {"listen": "127.0.0.1:8080", "blacklist": 30,
                                             "logfile": None, "http": False},
            "engine": {"uptime": 3725, "pid": 42, "connections_total": 9, "refused_total": 0,
                       "queue_len": 0, "queued_total": 0}}


def history() -> dict:
    h = History(interval=5, capacity=180)
    for k in range(5):
        h.sample(1000.0 + 5 * k, [(0, "10.0.0.1", k, 0, 1000 * k, 3000 * k, k, 0),
                                  (1, "10.0.0.2", 1, 0, 0, 0, 0, 0)])
    return h.to_dict()


def test_rows_states_and_charts() -> None:
    st = status(server(0), server(1, state="blacklisted", blacklisted=True, blacklist_left=12.0),
                server(2, state="draining", drain=True), server(3, state="full"))
    dom = assert_inert(render(st, history(), View(refresh=0)), [])
    rows = dom.find("tr", "server")
    assert [r.attrs["data-state"] for r in rows] == ["up", "blacklisted", "draining", "full"]
    assert "12 s left" in rows[1].text
    assert "at limit" in rows[3].text
    charts = dom.find("svg", "chart")
    assert [c.attrs["data-samples"] for c in charts] == ["5", "5", "0", "0"]
    assert len([p for p in dom.find("path") if p.attrs.get("d")]) >= 4
    assert dom.by_id("card-conns").text.startswith("connections1")
    assert "up 1h 2m" in dom.text and "pid 42" in dom.text


def test_refresh_on_and_off() -> None:
    page = render(status(server(0)), None, View(refresh=7, default_refresh=7))
    metas = [m.attrs for m in Dom(page).find("meta") if m.attrs.get("http-equiv") == "refresh"]
    assert metas == [{"http-equiv": "refresh", "content": "7"}]
    assert Dom(page).by_id("refresh-toggle").attrs["href"] == "/?refresh=0"
    page = render(status(server(0)), None, View(base="/cgi-bin/ws", refresh=0,
                                                 default_refresh=7))
    dom = Dom(page)
    assert not [m for m in dom.find("meta") if m.attrs.get("http-equiv") == "refresh"]
    assert dom.by_id("refresh-toggle").attrs["href"] == "/cgi-bin/ws/?refresh=7"


def test_actions_only_when_enabled_and_carry_the_token() -> None:
    st = status(server(0), server(1, drain=True, state="draining"))
    assert not Dom(render(st, None, View())).find("form")
    dom = Dom(render(st, None, View(actions=True, csrf="tok123", base="/b")))
    forms = dom.find("form")
    assert len(forms) == 2 and all(f.attrs["method"] == "post" for f in forms)
    assert all(f.attrs["action"] == "/b/action" for f in forms)
    tokens = [i.attrs["value"] for i in dom.find("input") if i.attrs.get("name") == "csrf"]
    assert tokens == ["tok123", "tok123"]
    buttons = [b.attrs["value"] for b in dom.find("button")]
    assert "drain" in buttons and "undrain" in buttons


def hostile_everything(st: dict) -> dict:
    """Every string and number pen reports replaced by markup."""
    def walk(v):
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, bool) or v is None:
            return v
        return MARKUP
    return walk(st)


def test_hostile_snapshot_renders_inert() -> None:
    st = hostile_everything(status(server(0), server(1)))
    hist = history()
    hist["servers"]["0"]["address"] = MARKUP
    hist["servers"]["1"]["conn"] = [MARKUP, None, {}]
    page = render(st, hist, View(actions=True, csrf=MARKUP, error=MARKUP, done="drain"))
    assert_inert(page, [MARKUP])
    assert "<script>" not in page and "onerror=" not in page.replace("onerror=alert(2)&gt;", "")


def test_hostile_strings_in_the_ordinary_fields() -> None:
    st = status(server(0, address=MARKUP, state=MARKUP), server(1, address="/run/" + MARKUP))
    st["clients"][0]["address"] = MARKUP
    st["settings"] = {k: MARKUP for k in ("listen", "control", "logfile", "web_stats",
                                          "pidfile", "config_file", "source", "emergency")}
    st["mode"] = MARKUP
    st["modes"] = [MARKUP]
    page = render(st, history(), View(refresh=5))
    dom = assert_inert(page, [MARKUP, "/run/" + MARKUP])
    assert MARKUP in dom.find("title")[0].text


def test_garbage_and_missing_fields_do_not_break_the_page() -> None:
    for st in ({}, {"servers": "x"}, {"servers": [None, 3, {"index": 0}]},
               {"servers": [{}], "clients": [{}], "engine": [], "settings": None}):
        page = render(copy.deepcopy(st), {"servers": {"0": None}, "interval": "x"}, View())
        assert page.startswith("<!DOCTYPE html>")
        assert_inert(page, [])


def test_many_clients_are_capped() -> None:
    st = status(server(0))
    st["clients"] = [{"index": i, "address": f"192.0.2.{i % 250}", "age": i, "last_server": 0,
                      "connects": 1, "sx": 0, "rx": 0} for i in range(450)]
    dom = Dom(render(st, None, View()))
    assert len(dom.find("tr", "client")) == 200
    assert "and 250 more" in dom.text


PEERS = {"listen": "0.0.0.0:7070", "key": True, "entries": 2, "running": True, "peers": [
    {"peer": "192.0.2.12:7070", "connected": True, "incoming": False, "sent": 5, "received": 7,
     "taken": 6, "last_received_age": 1.5, "bad": 0, "drift": ["hash: here True, there <b>"]},
    {"peer": "192.0.2.13:7070", "connected": False, "incoming": False, "sent": 0,
     "received": 0, "taken": 0, "last_received_age": None, "bad": 2, "drift": None}]}


def test_peers_section_with_drift_escaped() -> None:
    st = status(server(0))
    assert "Peers" not in render(st, None, View(refresh=0))
    st["peers"] = PEERS
    dom = assert_inert(render(st, None, View(refresh=0)), [])
    rows = dom.find("tr", "peer")
    assert len(rows) == 2
    assert "192.0.2.12:7070" in rows[0].text and "hash: here True, there <b>" in rows[0].text
    assert "not known yet" in rows[1].text and "down" in rows[1].text
