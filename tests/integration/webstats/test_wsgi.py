"""webstats as a WSGI application (in process, pen's control port over TCP) and standalone
(`webstats --control ADDR --listen 127.0.0.1:0`), including the actions."""
from __future__ import annotations

import io
import json
import subprocess
from urllib.parse import urlencode
from wsgiref.util import setup_testing_defaults

import pytest
from prometheus_client.parser import text_string_to_metric_families

from support.control import cmd, start_pen
from support.webstats import WEBSTATS, Dom, WebstatsServer, HISTORY_INTERVAL, assert_inert, traffic
from support.procs import C_PEN, dead_port
from webstats.app import Config, WebStats


def wsgi_get(app, path: str, query: str = "") -> tuple[str, dict, bytes]:
    env: dict = {}
    setup_testing_defaults(env)
    env.update({"PATH_INFO": path, "QUERY_STRING": query, "wsgi.input": io.BytesIO()})
    got = {}

    def start_response(status, headers):
        got["status"], got["headers"] = status, dict(headers)

    body = b"".join(app(env, start_response))
    return got["status"], got["headers"], body


def test_wsgi_app_in_process_over_a_tcp_control_port(short_dir, backends) -> None:
    a, b = backends("echo", "a", "b")
    pen, ctl = start_pen(short_dir, a.addr, b.addr, control="tcp",
                         history_interval=HISTORY_INTERVAL)
    try:
        assert ctl.startswith("127.0.0.1:") and cmd(ctl, "pid").strip().isdigit()
        traffic(pen, connections=3, size=5000)
        app = WebStats(Config(control=ctl, refresh=0))
        status, headers, body = wsgi_get(app, "/")
        assert status == "200 OK"
        dom = assert_inert(body.decode(), [])
        assert len(dom.find("tr", "server")) == 2 and len(dom.find("svg", "chart")) == 2
        assert not [m for m in dom.find("meta") if m.attrs.get("http-equiv") == "refresh"]
        status, _, body = wsgi_get(app, "/api/status")
        data = json.loads(body)
        assert data["status"]["settings"]["control"] == ctl
        assert sum(s["total"] for s in data["status"]["servers"]) == 3
        status, headers, body = wsgi_get(app, "/metrics")
        names = {f.name for f in text_string_to_metric_families(body.decode())}
        assert {"pen_server_connections", "pen_server_bytes_sent", "pen_info"} <= names
    finally:
        pen.stop()


@pytest.fixture
def standalone(live):
    ws = WebstatsServer(live.ctl, "--actions", "--refresh", "5", env={"WEBSTATS_SECRET": "k"})
    yield ws
    ws.stop()


def session(ws: WebstatsServer) -> tuple[str, str]:
    code, headers, body = ws.get("/")
    assert code == 200
    cookie = headers["set-cookie"].split(";")[0]
    token = next(i.attrs["value"] for i in Dom(body.decode()).find("input")
                 if i.attrs.get("name") == "csrf")
    return cookie, token


def post(ws: WebstatsServer, cookie: str, **form: object) -> tuple[int, dict, bytes]:
    return ws.request("POST", "/action", urlencode(form).encode(),
                      {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})


def state_of(live, n: int) -> str:
    line = cmd(live.ctl, "server_state").splitlines()[n]
    return line.split(" state ")[1].split()[0]


def test_standalone_serves_page_json_and_metrics(live, standalone) -> None:
    code, headers, body = standalone.get("/")
    assert code == 200 and headers["content-type"] == "text/html; charset=utf-8"
    dom = assert_inert(body.decode(), [])
    assert [m.attrs["content"] for m in dom.find("meta")
            if m.attrs.get("http-equiv") == "refresh"] == ["5"]
    assert len(dom.find("form")) == 3
    code, headers, body = standalone.get("/metrics")
    assert code == 200 and "version=0.0.4" in headers["content-type"]
    assert "pen_server_up" in {f.name for f in text_string_to_metric_families(body.decode())}
    code, headers, body = standalone.get("/api/status")
    assert code == 200 and len(json.loads(body)["status"]["servers"]) == 3


def test_standalone_actions_change_pen(live, standalone) -> None:
    cookie, token = session(standalone)
    code, headers, _ = post(standalone, cookie, csrf=token, server=0, action="drain")
    assert code == 303 and headers["location"] == "/?done=drain&server=0"
    assert state_of(live, 0) == "draining"
    assert post(standalone, cookie, csrf=token, server=0, action="undrain")[0] == 303
    assert state_of(live, 0) == "up"
    assert post(standalone, cookie, csrf=token, server=1, action="blacklist", seconds=120)[0] == 303
    assert state_of(live, 1) == "blacklisted"
    left = int(cmd(live.ctl, "server_state").splitlines()[1].split("blacklist_left ")[1].split()[0])
    assert 100 < left <= 120
    assert post(standalone, cookie, csrf=token, server=1, action="unblacklist")[0] == 303
    assert state_of(live, 1) == "up"
    assert post(standalone, cookie, csrf=token, server=1, action="weight", weight=7)[0] == 303
    assert " weight 7 " in cmd(live.ctl, "servers").splitlines()[1]


def test_standalone_actions_refuse_forgery_and_nonsense(live, standalone) -> None:
    cookie, token = session(standalone)
    other_cookie, _ = session(standalone)
    assert post(standalone, cookie, csrf="f" * 64, server=0, action="drain")[0] == 403
    assert post(standalone, other_cookie, csrf=token, server=0, action="drain")[0] == 403
    assert post(standalone, "", csrf=token, server=0, action="drain")[0] == 403
    code, _, body = post(standalone, cookie, csrf=token, server=99, action="drain")
    assert code == 400 and b"there is no server 99" in body
    assert post(standalone, cookie, csrf=token, server=0, action="exit")[0] == 400
    assert post(standalone, cookie, csrf=token, server=0, action="weight", weight=-1)[0] == 400
    assert post(standalone, cookie, csrf=token, server=0, action="blacklist", seconds=0)[0] == 400
    assert standalone.get("/action")[0] == 405
    assert len(cmd(live.ctl, "servers").splitlines()) == 3      # no slot was created
    assert state_of(live, 0) == "up"


def test_webstats_help_and_bad_listen() -> None:
    out = subprocess.run([str(WEBSTATS), "--help"], capture_output=True, text=True, timeout=20)
    assert out.returncode == 0 and "--control" in out.stdout and "--listen" in out.stdout
    bad = subprocess.run([str(WEBSTATS), "--control", "/x", "--listen", "nope"],
                         capture_output=True, text=True, timeout=20)
    assert bad.returncode == 2 and "HOST:PORT" in bad.stderr


@pytest.mark.compat
def test_against_c_pen_falls_back_to_its_replies(short_dir, backends) -> None:
    a, = backends("name", "a")
    pen, ctl = start_pen(short_dir, a.addr, f"127.0.0.1:{dead_port()}", exe=C_PEN)
    try:
        status, _, body = wsgi_get(WebStats(Config(control=ctl)), "/")
        assert status == "200 OK"
        dom = assert_inert(body.decode(), [])
        assert len(dom.find("tr", "server")) == 2
        assert "C pen" in dom.text and not dom.find("svg", "chart")
    finally:
        pen.stop()
