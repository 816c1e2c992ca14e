"""webstats test helpers: parse the page, check nothing from pen became markup, run the CGI
program exactly as a web server does, start the standalone server, drive headless Chromium."""
from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from support.procs import BIN, Pen, stop_process
from webstats import vrrp
from webstats.cluster import Node, NodeState

HISTORY_INTERVAL = 0.2         # the history sampling of the pens started for these tests

ROOT = Path(__file__).resolve().parents[2]
CGI_SCRIPT = ROOT / "webstats" / "cgi.py"
WEBSTATS = BIN / "webstats"
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")

# every tag the page is made of; anything else in a rendered page was injected
PAGE_TAGS = {"html", "head", "meta", "title", "style", "body", "main", "header", "h1", "h2",
             "span", "div", "section", "table", "thead", "tbody", "tr", "th", "td", "a",
             "figure", "figcaption", "svg", "line", "text", "path", "p", "i", "dl", "dt", "dd",
             "footer", "form", "input", "button", "details", "summary", "link", "article", "h3"}
# the payloads tests feed pen; each contains markup that would be live if not escaped
MARKUP = "\"'><script>alert(1)</script><img src=x onerror=alert(2)>&amp;"
FILE_MARKUP = "x\"'><img src=x onerror=alert(3)><b>&amp;"      # no '/': a file name


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: str = ""


class Dom(HTMLParser):
    """Every element with its attributes, and every piece of text (decoded)."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self.texts: list[str] = []
        self.stack: list[Element] = []
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list) -> None:
        el = Element(tag, {k: (v or "") for k, v in attrs})
        self.elements.append(el)
        if tag not in ("meta", "input", "line", "path", "br"):
            self.stack.append(el)

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        self.elements.append(Element(tag, {k: (v or "") for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                break

    def handle_data(self, data: str) -> None:
        self.texts.append(data)
        for el in self.stack:
            el.text += data

    def find(self, tag: str, cls: str | None = None) -> list[Element]:
        return [el for el in self.elements if el.tag == tag
                and (cls is None or cls in el.attrs.get("class", "").split())]

    def by_id(self, ident: str) -> Element | None:
        return next((el for el in self.elements if el.attrs.get("id") == ident), None)

    @property
    def text(self) -> str:
        return "".join(self.texts)


def assert_inert(page: str, payloads: list[str]) -> Dom:
    """No element or attribute the page does not make itself, and every payload shown as
    text (so it was rendered, and rendered inert)."""
    dom = Dom(page)
    strange = sorted({el.tag for el in dom.elements} - PAGE_TAGS)
    assert not strange, f"injected elements: {strange}"
    for el in dom.elements:
        for name, value in el.attrs.items():
            assert not name.startswith("on"), f"event handler attribute on <{el.tag}>: {name}"
            assert name in ("class", "id", "href", "content", "name", "charset", "lang",
                            "http-equiv", "type", "value", "method", "action", "min", "max",
                            "aria-label", "title", "viewbox", "role", "xmlns", "d", "x", "y",
                            "x1", "x2", "y1", "y2", "text-anchor", "colspan", "data-server",
                            "data-state", "data-samples", "data-label", "rel", "data-node", "data-pen",
                            "data-instance", "data-vrrp"), f"unexpected attribute {name!r}"
            assert not value.strip().lower().startswith("javascript:")
    for el in dom.find("a"):
        assert el.attrs["href"].startswith(("/", "?")), el.attrs["href"]
    for payload in payloads:
        assert payload in dom.text, f"payload not rendered as text: {payload!r}"
    return dom


# -- CGI ------------------------------------------------------------------------------------------
@dataclass
class CgiResponse:
    status: int
    headers: dict[str, list[str]] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), [""])[0]

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> object:
        return json.loads(self.body)


def run_cgi(control: str, path_info: str = "/", method: str = "GET", query: str = "",
            body: bytes = b"", headers: dict[str, str] | None = None,
            env: dict[str, str] | None = None, script_name: str = "/cgi-bin/webstats",
            timeout: float = 20.0) -> CgiResponse:
    """Spawn webstats/cgi.py with the RFC 3875 meta-variables a web server sets, the body on
    stdin, and parse what it prints (header lines, a blank line, the body)."""
    cgi_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GATEWAY_INTERFACE": "CGI/1.1", "SERVER_SOFTWARE": "pen-ha-tests/1",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8080", "SERVER_PROTOCOL": "HTTP/1.1",
        "REQUEST_METHOD": method, "SCRIPT_NAME": script_name, "PATH_INFO": path_info,
        "QUERY_STRING": query, "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "40000",
        "REQUEST_URI": script_name + path_info + (f"?{query}" if query else ""),
        "SCRIPT_FILENAME": str(CGI_SCRIPT), "HTTP_HOST": "127.0.0.1:8080",
        "PEN_CONTROL": control,
    }
    if body:
        cgi_env["CONTENT_LENGTH"] = str(len(body))
        cgi_env["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
    for name, value in (headers or {}).items():
        cgi_env["HTTP_" + name.upper().replace("-", "_")] = value
    cgi_env.update(env or {})
    proc = subprocess.run([sys.executable, str(CGI_SCRIPT)], input=body, env=cgi_env,
                          capture_output=True, timeout=timeout, cwd=str(CGI_SCRIPT.parent))
    assert proc.returncode == 0, proc.stderr.decode()
    head, sep, rest = proc.stdout.partition(b"\r\n\r\n")
    assert sep, f"no header/body separator in CGI output: {proc.stdout[:300]!r}"
    resp = CgiResponse(200, {}, rest)
    for line in head.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        resp.headers.setdefault(name.strip().lower(), []).append(value.strip())
    status = resp.header("status")
    if status:
        resp.status = int(status.split()[0])
    return resp


# -- traffic and webstats processes -------------------------------------------------------------------
def traffic(pen: Pen, connections: int = 5, size: int = 20000) -> None:
    """Echo traffic through pen (needs echo backends): `size` bytes each way per connection."""
    payload = os.urandom(size)
    for _ in range(connections):
        with pen.connect(timeout=5) as s:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            got = 0
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += len(chunk)
            assert got == size


class WebstatsServer:
    """`webstats --control ADDR --listen 127.0.0.1:0 ...`; the URL is read from its first line."""

    def __init__(self, control: str, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen([str(WEBSTATS), "--control", control, "--listen",
                                      "127.0.0.1:0", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True,
                                     env=dict(os.environ, **(env or {})))
        ready, _, _ = select.select([self.proc.stdout], [], [], 15)
        line = self.proc.stdout.readline() if ready else ""
        if "serving http://" not in line:
            self.stop()
            raise RuntimeError(f"webstats did not start: {line!r}")
        self.url = line.split()[2].rstrip("/")

    def get(self, path: str = "/", headers: dict[str, str] | None = None
            ) -> tuple[int, dict[str, str], bytes]:
        return self.request("GET", path, headers=headers)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        req = urllib.request.Request(self.url + path, data=body, method=method,
                                     headers=headers or {})
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(req, timeout=20) as resp:
                return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()

    def stop(self) -> None:
        stop_process(self.proc)


class VrrpStandIn:
    """A small real HTTP server serving a penvrrp-style GET /status.json (the contract of
    `penvrrp --metrics-listen`, webstats/vrrp.py).  A stand-in only until penvrrp's own
    endpoint can be started here: set `.doc` (served as JSON), `.raw` (served as is),
    `.status` or `.delay` to make it misbehave."""

    def __init__(self, node: str, *instances: dict) -> None:
        import http.server
        import threading
        self.doc: object = {"node": node, "instances": list(instances)}
        self.raw: bytes | None = None
        self.status = 200
        self.delay = 0.0
        self.hits = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits += 1
                time.sleep(outer.delay)
                if self.path != "/status.json":
                    self.send_error(404)
                    return
                body = outer.raw if outer.raw is not None else json.dumps(outer.doc).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/status.json"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def vrrp_instance(name: str = "VI_51", state: str = "MASTER", priority: int = 150,
                  effective: int | None = None, vrid: int = 51, up: bool = True) -> dict:
    return {"name": name, "vrid": vrid, "state": state, "priority": priority,
            "effective_priority": priority if effective is None else effective,
            "vips": ["192.0.2.100/24"], "seconds_in_state": 42.5,
            "trackers": [{"name": "pen:127.0.0.1:10080", "up": up}]}


def vrrp_doc(*instances: dict, node: str = "lb1") -> dict:
    """A penvrrp status document (docs/penvrrp.md "Status") holding `instances`."""
    return {"node": node, "instances": list(instances)}


def node_state(name: str, *instances: dict) -> NodeState:
    """What webstats' cluster view knows of node `name` whose penvrrp reports `instances`."""
    return NodeState(Node(name, f"{name}:10080", f"http://{name}/status.json"),
                     vrrp=vrrp.parse(vrrp_doc(*instances, node=name)))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kw: object) -> None:
        return None


# -- headless Chromium ---------------------------------------------------------------------------
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


def chromium(*args: str, timeout: float = 90.0) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        return subprocess.run([str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                               *args], capture_output=True, text=True, timeout=timeout)
