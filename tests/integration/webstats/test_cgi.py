"""webstats as a CGI program against a live pen: spawned with the CGI environment a web
server sets (RFC 3875), its output parsed."""
from __future__ import annotations

import re

from prometheus_client.parser import text_string_to_metric_families

from support.control import cmd, penctl
from support.webstats import Dom, assert_inert, run_cgi, traffic
from penctl.replies import parse_servers


def prepare(live) -> None:
    assert cmd(live.ctl, "server 1 drain") == ""
    assert cmd(live.ctl, "server 2 blacklist 60") == ""
    traffic(live.pen, connections=4, size=30000)
    live.wait_samples(3)


def test_page_shows_every_server_with_its_state_and_a_chart(live) -> None:
    prepare(live)
    resp = run_cgi(live.ctl)
    assert resp.status == 200
    assert resp.header("content-type") == "text/html; charset=utf-8"
    assert "default-src 'none'" in resp.header("content-security-policy")
    assert resp.header("cache-control") == "no-store"
    dom = assert_inert(resp.text, [])
    rows = dom.find("tr", "server")
    assert [r.attrs["data-state"] for r in rows] == ["up", "draining", "blacklisted"]
    assert re.search(r"\d+ s left", rows[2].text)
    servers = parse_servers(cmd(live.ctl, "servers"))
    for row, srv in zip(rows, servers):
        assert f"{srv['address']}:{srv['port']}" in row.text
    charts = dom.find("svg", "chart")
    assert len(charts) == 3 and all(int(c.attrs["data-samples"]) >= 3 for c in charts)
    assert [m.attrs["content"] for m in dom.find("meta")
            if m.attrs.get("http-equiv") == "refresh"] == ["10"]
    assert all(a.attrs["href"].startswith("/cgi-bin/webstats/") for a in dom.find("a"))
    assert "pen-ha" in dom.text and not dom.find("form")       # actions are off by default


def test_api_status_is_the_live_state_with_history(live) -> None:
    prepare(live)
    resp = run_cgi(live.ctl, "/api/status")
    assert resp.status == 200 and resp.header("content-type") == "application/json"
    data = resp.json()
    assert data["pen_ha"] is True
    st = data["status"]
    assert [s["state"] for s in st["servers"]] == ["up", "draining", "blacklisted"]
    assert st["engine"]["connections_total"] == 4
    assert st["clients_used"] == 1 and st["clients"][0]["address"] == "127.0.0.1"
    hist = data["history"]["servers"]
    assert len(hist["0"]["t"]) >= 3 and hist["0"]["sx"][-1] + hist["1"]["sx"][-1] == 120000


def test_metrics_are_pen_counters_in_prometheus_format(live) -> None:
    prepare(live)
    resp = run_cgi(live.ctl, "/metrics")
    assert resp.status == 200
    assert resp.header("content-type").startswith("text/plain; version=0.0.4")
    fams = {f.name: f for f in text_string_to_metric_families(resp.text)}
    servers = parse_servers(cmd(live.ctl, "servers"))

    def by_server(name: str) -> dict[int, float]:
        return {int(s.labels["server"]): s.value for s in fams[name].samples}

    assert by_server("pen_server_bytes_sent") == {s["index"]: s["sx"] for s in servers}
    assert by_server("pen_server_bytes_received") == {s["index"]: s["rx"] for s in servers}
    assert sum(by_server("pen_server_connections_established").values()) == 4
    assert by_server("pen_server_blacklisted") == {0: 0, 1: 0, 2: 1}
    assert by_server("pen_server_draining") == {0: 0, 1: 1, 2: 0}
    assert by_server("pen_server_up") == {0: 1, 1: 1, 2: 0}
    assert fams["pen_clients"].samples[0].value == 1
    assert fams["pen_connections_accepted"].samples[0].value == 4
    assert fams["pen_uptime_seconds"].samples[0].value > 0
    assert fams["process_open_fds"].samples[0].value > 3
    # penctl ADDR metrics gives the same families
    direct = penctl(live.ctl, "metrics")
    assert direct.returncode == 0
    assert {f.name for f in text_string_to_metric_families(direct.stdout)} == set(fams)


def test_actions_through_cgi_with_a_token_from_another_process(live) -> None:
    env = {"WEBSTATS_ACTIONS": "1", "WEBSTATS_SECRET": "s3cret"}
    page = run_cgi(live.ctl, env=env)
    cookie = page.header("set-cookie").split(";")[0]
    assert "HttpOnly" in page.header("set-cookie")
    assert "Path=/cgi-bin/webstats" in page.header("set-cookie")
    token = next(i.attrs["value"] for i in Dom(page.text).find("input")
                 if i.attrs.get("name") == "csrf")
    forged = run_cgi(live.ctl, "/action", "POST", body=b"csrf=0000&server=0&action=drain",
                     headers={"Cookie": cookie}, env=env)
    assert forged.status == 403
    assert "state up" in cmd(live.ctl, "server_state").splitlines()[0]
    resp = run_cgi(live.ctl, "/action", "POST",
                   body=f"csrf={token}&server=0&action=drain".encode(),
                   headers={"Cookie": cookie}, env=env)
    assert resp.status == 303
    assert resp.header("location") == "/cgi-bin/webstats/?done=drain&server=0"
    assert "state draining" in cmd(live.ctl, "server_state").splitlines()[0]
    done = run_cgi(live.ctl, query="done=drain&server=0", headers={"Cookie": cookie}, env=env)
    assert "Server 0 is draining." in Dom(done.text).by_id("done").text
    assert "Secure" not in page.header("set-cookie")         # plain HTTP: it could not be sent


def test_over_https_the_session_cookie_is_secure_and_old_tokens_are_refused(live) -> None:
    env = {"WEBSTATS_ACTIONS": "1", "WEBSTATS_SECRET": "s3cret", "HTTPS": "on"}
    page = run_cgi(live.ctl, env=env)
    assert page.header("set-cookie").endswith("; Secure"), page.header("set-cookie")
    cookie = page.header("set-cookie").split(";")[0]
    token = next(i.attrs["value"] for i in Dom(page.text).find("input")
                 if i.attrs.get("name") == "csrf")
    from webstats import csrf
    session = cookie.split("=", 1)[1]
    old = csrf.token(b"s3cret", session, float(token.split(".")[0]) - csrf.TOKEN_TTL - 60)
    stale = run_cgi(live.ctl, "/action", "POST", body=f"csrf={old}&server=0&action=drain".encode(),
                    headers={"Cookie": cookie}, env=env)
    assert stale.status == 403 and "expired" in Dom(stale.text).text
    assert "state up" in cmd(live.ctl, "server_state").splitlines()[0]


def test_head_unknown_path_and_unreachable_pen(live, short_dir) -> None:
    head = run_cgi(live.ctl, method="HEAD")
    assert head.status == 200 and head.body == b""
    assert run_cgi(live.ctl, "/nope").status == 404
    gone = run_cgi(str(short_dir / "gone.sock"))
    assert gone.status == 502 and "gone.sock" in Dom(gone.text).by_id("error").text
