"""The WSGI application's routing and refusals, where no pen is needed to answer.

(Everything that talks to pen is tested against a live pen in tests/integration/webstats.)
"""
from __future__ import annotations

import io
from wsgiref.util import setup_testing_defaults

from webstats.app import Config, WebStats


def call(app, path: str = "/", method: str = "GET", body: bytes = b"", **extra):
    env: dict = {}
    setup_testing_defaults(env)
    env.update({"PATH_INFO": path, "REQUEST_METHOD": method, "wsgi.input": io.BytesIO(body),
                "CONTENT_LENGTH": str(len(body)), "wsgi.errors": io.StringIO()})
    env.update(extra)
    got = {}

    def start_response(status, headers):
        got["status"], got["headers"] = status, dict(headers)

    out = b"".join(app(env, start_response))
    return int(got["status"].split()[0]), got["headers"], out.decode()


def test_unconfigured_app_says_what_is_missing(monkeypatch) -> None:
    monkeypatch.delenv("PEN_CONTROL", raising=False)
    code, headers, body = call(WebStats())
    assert code == 500 and "PEN_CONTROL" in body
    assert headers["Content-Type"].startswith("text/html")


def test_config_from_environ_before_process_environment(monkeypatch) -> None:
    monkeypatch.setenv("PEN_CONTROL", "/from/process")
    cfg = Config.from_env({"PEN_CONTROL": "/from/environ", "WEBSTATS_ACTIONS": "yes",
                           "WEBSTATS_REFRESH": "99999"}, {"PEN_CONTROL": "/x"})
    assert cfg.control == "/from/environ" and cfg.actions and cfg.refresh == 10


def test_unreachable_pen_is_a_502_with_the_reason_escaped(tmp_path) -> None:
    app = WebStats(Config(control=str(tmp_path / "<b>no-such.sock")))
    code, headers, body = call(app)
    assert code == 502
    assert "&lt;b&gt;no-such.sock" in body and "<b>no" not in body
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    code, _, body = call(app, "/api/status")
    assert code == 502 and '"error"' in body
    code, _, body = call(app, "/metrics")
    assert code == 503 and body.startswith("#")


def test_routes_and_methods(tmp_path) -> None:
    app = WebStats(Config(control=str(tmp_path / "none.sock"), actions=True, secret=b"k"))
    assert call(app, "/nope")[0] == 404
    code, headers, _ = call(app, "/action")
    assert code == 405 and headers["Allow"] == "POST"
    assert call(app, "/", method="POST")[0] == 405
    code, _, body = call(app, "/", method="HEAD")
    assert body == ""


def test_actions_refused_when_disabled_without_secret_or_token(tmp_path) -> None:
    form = b"csrf=x&server=0&action=drain"
    ctype = {"CONTENT_TYPE": "application/x-www-form-urlencoded"}
    off = WebStats(Config(control=str(tmp_path / "s"), actions=False))
    assert call(off, "/action", "POST", form, **ctype)[0] == 404
    nosecret = WebStats(Config(control=str(tmp_path / "s"), actions=True))
    assert call(nosecret, "/action", "POST", form, **ctype)[0] == 403
    on = WebStats(Config(control=str(tmp_path / "s"), actions=True, secret=b"k"))
    code, _, body = call(on, "/action", "POST", form, **ctype)
    assert code == 403 and "CSRF" in body
    assert call(on, "/action", "POST", form, CONTENT_TYPE="text/plain")[0] == 400
    code, _, body = call(on, "/action", "POST", form, HTTP_ORIGIN="http://evil.example",
                         HTTP_HOST="127.0.0.1:8080", **ctype)
    assert code == 403 and "cross-origin" in body
