"""webstats: the WSGI application (docs/webstats.md).

C pen's status was a file written on SIGUSR1 and a CGI that slept two seconds before printing
it (docs/webstats.md).  This asks pen's control port for the live state on every request
and renders it; the same callable runs under any WSGI server, as CGI (webstats/cgi.py) and
standalone (`webstats --control ADDR --listen HOST:PORT`).

  GET  /             the status page (HTML; ?refresh=N, 0 = no auto-refresh)
  GET  /api/status   {"status", "history", "pen_ha"} as JSON
  GET  /metrics      Prometheus text (pen's `metrics` command, passed through)
  GET  /cluster      every node of the HA pair, pen and penvrrp (with a cluster file)
  GET  /api/cluster  the same as JSON
  POST /action       drain / undrain / blacklist / unblacklist / weight one server
                     (only with actions enabled; CSRF token required)

Configuration comes from the WSGI environ first, then the process environment:
PEN_CONTROL (host:port or a unix socket path), WEBSTATS_ACTIONS=1, WEBSTATS_SECRET,
WEBSTATS_REFRESH (seconds), WEBSTATS_TIMEOUT (seconds), WEBSTATS_VRRP (this node's penvrrp
status URL), WEBSTATS_CLUSTER (the cluster file, webstats/cluster.py).
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, TypeVar
from urllib.parse import parse_qs, urlsplit

from pen.core.balance.servers import MAX_SERVERS
from pen.core.formats.metrics import CONTENT_TYPE as METRICS_TYPE
from webstats import cluster, csrf, source, vrrp
from webstats.ha_page import cluster_page, header_badges, vrrp_section
from webstats.markup import Markup
from webstats.page import CSP, View, message_page, render

MAX_BODY = 4096
MAX_REFRESH = 3600
ACTIONS = ("drain", "undrain", "blacklist", "unblacklist", "weight")
TRUE = ("1", "yes", "on", "true")

StartResponse = Callable[..., object]


@dataclass(slots=True)
class Config:
    control: str
    actions: bool = False
    secret: bytes = b""
    refresh: int = 10
    timeout: float = source.DEFAULT_TIMEOUT
    vrrp: str = ""                              # this node's penvrrp /status.json
    cluster: tuple[cluster.Node, ...] = ()
    cluster_error: str = ""                     # the cluster file could not be used

    @classmethod
    def from_env(cls, *envs: Mapping[str, object]) -> Config:
        def get(name: str, default: str = "") -> str:
            for env in envs:
                value = env.get(name)
                if isinstance(value, str) and value:
                    return value
            return default

        refresh = get("WEBSTATS_REFRESH", "10")
        timeout = get("WEBSTATS_TIMEOUT", str(source.DEFAULT_TIMEOUT))
        nodes: tuple[cluster.Node, ...] = ()
        cluster_error = ""
        if get("WEBSTATS_CLUSTER"):
            try:
                nodes = cluster.load(get("WEBSTATS_CLUSTER"))
            except cluster.ClusterError as exc:
                cluster_error = str(exc)
        return cls(control=get("PEN_CONTROL"),
                   actions=get("WEBSTATS_ACTIONS").lower() in TRUE,
                   secret=get("WEBSTATS_SECRET").encode(),
                   refresh=_bounded_int(refresh, 0, MAX_REFRESH, 10),
                   timeout=_bounded_float(timeout, 0.1, 60.0, source.DEFAULT_TIMEOUT),
                   vrrp=get("WEBSTATS_VRRP"), cluster=nodes, cluster_error=cluster_error)


def _bounded_int(text: object, low: int, high: int, default: int) -> int:
    try:
        value = int(str(text))
    except ValueError:
        return default
    return value if low <= value <= high else default


def _bounded_float(text: str, low: float, high: float, default: float) -> float:
    try:
        value = float(text)
    except ValueError:
        return default
    return value if low <= value <= high else default


class Response:
    def __init__(self, status: str, body: str | bytes, content_type: str,
                 headers: list[tuple[str, str]] | None = None) -> None:
        self.status = status
        self.body = body.encode("utf-8") if isinstance(body, str) else body
        self.headers = [("Content-Type", content_type),
                        ("Content-Length", str(len(self.body))),
                        ("Cache-Control", "no-store"),
                        ("X-Content-Type-Options", "nosniff"),
                        ("Referrer-Policy", "no-referrer")] + (headers or [])


def _html(status: str, body: Markup, headers: list[tuple[str, str]] | None = None) -> Response:
    """Only Markup goes out as HTML: a plain string here is a bug, not a page."""
    if not isinstance(body, Markup):
        raise TypeError("text/html responses take webstats.markup.Markup")
    return Response(status, body, "text/html; charset=utf-8",
                    [("Content-Security-Policy", CSP), ("X-Frame-Options", "DENY")]
                    + (headers or []))


class WebStats:
    """The WSGI callable.  `config=None` reads it from each request's environment (CGI,
    mod_wsgi's SetEnv); standalone passes one."""

    def __init__(self, config: Config | None = None) -> None:
        self.config = config

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        cfg = self.config or Config.from_env(environ, os.environ)
        try:
            resp = self.route(cfg, environ)
        except Exception as exc:        # never a traceback page; the log gets the details
            print(f"webstats: internal error: {exc!r}", file=environ.get("wsgi.errors")
                  or sys.stderr)
            resp = _html("500 Internal Server Error",
                         message_page("webstats error", "internal error (see the server log)",
                                      _base(environ)))
        start_response(resp.status, resp.headers)
        return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else resp.body]

    def route(self, cfg: Config, environ: dict) -> Response:
        path = environ.get("PATH_INFO", "") or "/"
        method = environ.get("REQUEST_METHOD", "GET")
        base = _base(environ)
        if not cfg.control:
            return _html("500 Internal Server Error", message_page(
                "webstats is not configured", "set PEN_CONTROL to pen's control address "
                "(host:port or a unix socket path)", base))
        if path == "/action":
            if method != "POST":
                return _html("405 Method Not Allowed",
                             message_page("POST only", "actions are POST requests", base),
                             [("Allow", "POST")])
            return self.action(cfg, environ, base)
        if method not in ("GET", "HEAD"):
            return _html("405 Method Not Allowed",
                         message_page("GET only", f"{method} is not allowed here", base),
                         [("Allow", "GET, HEAD")])
        if path in ("/", ""):
            return self.page(cfg, environ, base)
        if path == "/api/status":
            return self.api(cfg)
        if path == "/metrics":
            return self.metrics(cfg)
        if path in ("/cluster", "/api/cluster"):
            return self.cluster(cfg, base, as_json=path == "/api/cluster")
        return _html("404 Not Found", message_page("not found", "no such page", base))

    # -- pages -------------------------------------------------------------------------------
    def page(self, cfg: Config, environ: dict, base: str) -> Response:
        query = parse_qs(environ.get("QUERY_STRING", ""), max_num_fields=10)
        view = View(base=base, default_refresh=cfg.refresh,
                    refresh=_bounded_int(_first(query, "refresh", cfg.refresh), 0, MAX_REFRESH,
                                         cfg.refresh))
        headers: list[tuple[str, str]] = []
        if cfg.actions:
            if cfg.secret:
                session = csrf.session_from(environ.get("HTTP_COOKIE", ""))
                if session is None:
                    session = csrf.new_session()
                    headers.append(("Set-Cookie", csrf.set_cookie(session, base,
                                                                  secure=_https(environ))))
                view.actions, view.csrf = True, csrf.token(cfg.secret, session, time.time())
            else:
                view.actions_note = ("Actions are enabled but WEBSTATS_SECRET is not set: "
                                     "they stay off.")
        done = _first(query, "done", "")
        if done:
            view.done, view.done_server = done, _bounded_int(_first(query, "server", -1), 0,
                                                             MAX_SERVERS, -1)
        if cfg.vrrp:
            status, why = _vrrp(cfg)
            view.sections.append(vrrp_section(status, why))
            view.header_extra += header_badges(status, why, base, bool(cfg.cluster))
        elif cfg.cluster:
            view.header_extra += header_badges(None, "", base, True)
        try:
            live = source.fetch(cfg.control, cfg.timeout)
        except source.SourceError as exc:
            view.error = str(exc)
            return _html("502 Bad Gateway", render({}, None, view), headers)
        view.pen_ha = live.pen_ha
        view.actions = view.actions and live.pen_ha
        return _html("200 OK", render(live.status, live.history, view), headers)

    def api(self, cfg: Config) -> Response:
        try:
            live = source.fetch(cfg.control, cfg.timeout)
        except source.SourceError as exc:
            return Response("502 Bad Gateway", json.dumps({"error": str(exc)}),
                            "application/json")
        doc: dict = {"status": live.status, "history": live.history, "pen_ha": live.pen_ha}
        if cfg.vrrp:
            status, why = _vrrp(cfg)
            doc["vrrp"] = _vrrp_doc(status) if status else {"error": why}
        return Response("200 OK", json.dumps(doc), "application/json")

    def cluster(self, cfg: Config, base: str, as_json: bool) -> Response:
        if cfg.cluster_error or not cfg.cluster:
            why = cfg.cluster_error or "no cluster configured (--cluster FILE / WEBSTATS_CLUSTER)"
            if as_json:
                return Response("404 Not Found", json.dumps({"error": why}), "application/json")
            return _html("404 Not Found", message_page("no cluster", why, base))
        states = cluster.gather(cfg.cluster, cfg.timeout)
        if as_json:
            body = json.dumps({"warnings": cluster.assess(states), "nodes": [
                {"name": st.node.name, "control": st.node.control, "vrrp_url": st.node.vrrp,
                 "pen": ({"status": st.pen.status, "pen_ha": st.pen.pen_ha} if st.pen
                         else {"error": st.pen_error}),
                 "vrrp": (_vrrp_doc(st.vrrp) if st.vrrp else
                          {"error": st.vrrp_error} if st.node.vrrp else None)}
                for st in states]})
            return Response("200 OK", body, "application/json")
        return _html("200 OK", cluster_page(states, base, cfg.refresh))

    def metrics(self, cfg: Config) -> Response:
        try:
            text = source.ask(cfg.control, "metrics", cfg.timeout)
        except source.SourceError as exc:
            return Response("503 Service Unavailable", f"# {exc}\n", "text/plain; charset=utf-8")
        if not text.startswith("# HELP"):
            return Response("503 Service Unavailable",
                            "# this pen has no metrics command (C pen?)\n",
                            "text/plain; charset=utf-8")
        return Response("200 OK", text, METRICS_TYPE)

    # -- actions -----------------------------------------------------------------------------
    def action(self, cfg: Config, environ: dict, base: str) -> Response:
        def refuse(status: str, why: str) -> Response:
            return _html(status, message_page("action refused", why, base))

        if not cfg.actions:
            return refuse("404 Not Found", "actions are disabled (WEBSTATS_ACTIONS / --actions)")
        if not cfg.secret:
            return refuse("403 Forbidden", "actions need a secret (WEBSTATS_SECRET)")
        origin = environ.get("HTTP_ORIGIN", "")
        if origin and origin != "null" and urlsplit(origin).netloc != environ.get("HTTP_HOST"):
            return refuse("403 Forbidden", "cross-origin request")
        form = _form(environ)
        if form is None:
            return refuse("400 Bad Request", "expected a small url-encoded form")
        session = csrf.session_from(environ.get("HTTP_COOKIE", ""))
        why = csrf.check(cfg.secret, session, form.get("csrf"), time.time())
        if why is not None:
            return refuse("403 Forbidden", f"{why}; reload the page")
        what = form.get("action", "")
        n = _bounded_int(form.get("server", ""), 0, MAX_SERVERS - 1, -1)
        if what not in ACTIONS or n < 0:
            return refuse("400 Bad Request", "unknown action or server")
        if what == "blacklist":
            seconds = _bounded_int(form.get("seconds", ""), 1, 86400, -1)
            if seconds < 0:
                return refuse("400 Bad Request", "blacklist: seconds must be 1-86400")
            line = f"server {n} blacklist {seconds}"
        elif what == "unblacklist":
            line = f"server {n} blacklist 0"
        elif what == "weight":
            weight = _bounded_int(form.get("weight", ""), 0, 1_000_000, -1)
            if weight < 0:
                return refuse("400 Bad Request", "weight must be 0-1000000")
            line = f"server {n} weight {weight}"
        else:
            line = f"server {n} {what}"
        try:
            live = source.fetch(cfg.control, cfg.timeout, with_history=False)
            if not live.pen_ha:
                return refuse("409 Conflict", "this pen does not support webstats actions")
            if n not in [s.get("index") for s in live.status["servers"]]:
                return refuse("400 Bad Request", f"there is no server {n}")
            reply = source.ask(cfg.control, line, cfg.timeout).strip()
        except source.SourceError as exc:
            return refuse("502 Bad Gateway", str(exc))
        if reply:
            return refuse("502 Bad Gateway", f"pen refused '{line}': {reply}")
        return Response("303 See Other", "", "text/plain; charset=utf-8",
                        [("Location", f"{base}/?done={what}&server={n}")])


def _vrrp(cfg: Config) -> tuple[vrrp.VrrpStatus | None, str]:
    try:
        return vrrp.fetch(cfg.vrrp, cfg.timeout), ""
    except vrrp.VrrpError as exc:
        return None, str(exc)


def _vrrp_doc(status: vrrp.VrrpStatus) -> dict:
    return dataclasses.asdict(status)


def _https(environ: dict) -> bool:
    """The request came over HTTPS (PEP 3333's url_scheme; CGI servers set HTTPS=on)."""
    return (environ.get("wsgi.url_scheme") == "https"
            or str(environ.get("HTTPS", "")).lower() in ("on", "1"))


def _base(environ: dict) -> str:
    return environ.get("SCRIPT_NAME", "").rstrip("/")


_D = TypeVar("_D")


def _first(query: dict[str, list[str]], key: str, default: _D) -> str | _D:
    values = query.get(key)
    return values[0] if values else default


def _form(environ: dict) -> dict[str, str] | None:
    ctype = environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        return None
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if not 0 < length <= MAX_BODY:
        return None
    body = environ["wsgi.input"].read(length)
    try:
        fields = parse_qs(body.decode("ascii"), strict_parsing=False, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        return None
    return {k: v[0] for k, v in fields.items()}


application = WebStats()
