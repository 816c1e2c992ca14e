"""End to end: our pen, nginx and Python's http.server, penlog, penlogd, mergelogs.

Hundreds of concurrent requests from several client addresses (127.0.0.2 ...) go through
pen -r to two backends on 127.0.0.1.  Every request must appear exactly once in the merged
log with its true client.  Many requests are identical ("GET / HTTP/1.1" at the same
moment), which C penlogd gives to the wrong clients (docs/penlogd.md "Matching"): the User-Agent header, logged
in the Combined format, says who really sent each one.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from support.logs import lines_of, start_penlogd
from support.procs import BIN, Pen, stop_process, wait_for

pytestmark = pytest.mark.slow
NGINX = "/usr/sbin/nginx"
HERE = Path(__file__).resolve().parent
CLIENTS = [f"127.0.0.{i}" for i in range(2, 10)]
PER_CLIENT = 40
FORMAT = ('\'$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
          '"$http_referer" "$http_user_agent" rport=$remote_port sport=$server_port\'')


@dataclass
class Stack:
    tmp: Path
    log_port: int = 0
    procs: list[subprocess.Popen] = field(default_factory=list)
    nginx_port: int = 0
    httpd_port: int = 0

    def start_nginx(self, syslog: bool = False) -> None:
        """nginx-light in the foreground; its listening socket is made here (port 0) and
        inherited through $NGINX; its access log goes to stdout (a pipe into penlog) and a
        file, or with `syslog` straight to penlogd as syslog datagrams."""
        d = self.tmp / "nginx"
        d.mkdir()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(1024)
        self.nginx_port = sock.getsockname()[1]
        (d / "nginx.conf").write_text(f"""
daemon off; master_process on; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log;
events {{ worker_connections 2048; }}
http {{
  log_format penha {FORMAT};
  access_log {f"syslog:server=127.0.0.1:{self.log_port},nohostname" if syslog else "/dev/stdout"} penha;
  access_log {self.tmp}/nginx.log penha;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi;
  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  server {{ listen 127.0.0.1:{self.nginx_port} backlog=1024; location / {{ return 200 "ok\\n"; }} }}
}}
""")
        nginx = subprocess.Popen([NGINX, "-p", str(d), "-c", str(d / "nginx.conf"), "-e",
                                  str(d / "error.log")], stdout=subprocess.PIPE,
                                 env=dict(os.environ, NGINX=f"{sock.fileno()};"),
                                 pass_fds=[sock.fileno()])
        sock.close()
        self.procs.append(nginx)
        if not syslog:
            self._penlog(nginx)

    def start_httpd(self) -> None:
        port_file = self.tmp / "httpd.port"
        httpd = subprocess.Popen([sys.executable, str(HERE / "httpd_logging.py"), str(port_file),
                                  str(self.tmp / "httpd.log")], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL)
        self.procs.append(httpd)
        self._penlog(httpd)
        self.httpd_port = int(wait_for(lambda: port_file.exists() and port_file.read_text(),
                                       10, "http.server's port"))

    def _penlog(self, server: subprocess.Popen) -> None:
        """penlog reading the server's access log, as Apache's CustomLog "|penlog ..." would."""
        if not self.log_port:           # mergelogs-only runs: nothing to forward to
            return
        penlog = subprocess.Popen([str(BIN / "penlog"), "127.0.0.1", str(self.log_port),
                                   "127.0.0.1"], stdin=server.stdout)
        server.stdout.close()  # type: ignore[union-attr]
        self.procs.append(penlog)

    def close(self) -> None:
        for p in reversed(self.procs):
            stop_process(p, strict=True)


@pytest.fixture
def stack(tmp_path: Path):
    st = Stack(tmp_path)
    try:
        yield st
    finally:
        st.close()


def request(pen: Pen, client: str, k: int, identical: bool) -> str:
    """One HTTP request from `client` through pen; returns its unique User-Agent."""
    ua = f"e2e-{client}-{k}"
    path = "/" if identical else f"/u/{client}/{k}"
    s = pen.connect(timeout=20, source=client)
    with s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\nUser-Agent: {ua}\r\n"
                  "Connection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    assert data.startswith(b"HTTP/1.") and b" 200 " in data.split(b"\r\n")[0], data[:100]
    return ua


def flood(pen: Pen, identical: bool) -> list[str]:
    """PER_CLIENT requests from each client, 64 at a time; with `identical`, every other
    one is the same "GET / HTTP/1.1" from every client."""
    jobs = [(c, k, identical and k % 2 == 0) for k in range(PER_CLIENT) for c in CLIENTS]
    with ThreadPoolExecutor(64) as pool:
        return list(pool.map(lambda j: request(pen, *j), jobs))


def check_attribution(lines: list[str], sent: list[str]) -> None:
    """Every request exactly once, each with the client its User-Agent names."""
    uas = [line.rsplit('"', 2)[-2] for line in lines]
    assert Counter(uas) == Counter(sent)
    wrong = [line for line, ua in zip(lines, uas) if line.split()[0] != ua.split("-")[1]]
    assert not wrong, f"{len(wrong)} misattributed, e.g. {wrong[:3]}"
    assert all("rport=" not in line for line in lines)


def test_live_pen_penlogd_nginx_httpserver(stack: Stack) -> None:
    proc, stack.log_port, merged = start_penlogd(stack.tmp, "--hold", "5", "-d")
    stack.procs.append(proc)
    stack.start_nginx()
    stack.start_httpd()
    with Pen(f"127.0.0.1:{stack.nginx_port}", f"127.0.0.1:{stack.httpd_port}",
             opts=["-r", "-l", f"127.0.0.1:{stack.log_port}"]) as pen:
        sent = flood(pen, identical=True)
        wait_for(lambda: len(lines_of(merged)) >= len(sent), 30, "all merged lines")
    stop_process(proc, strict=True)
    lines = lines_of(merged)
    check_attribution(lines, sent)
    servers = Counter(line.split('"')[1] for line in lines)
    assert servers["GET / HTTP/1.1"] == len(sent) // 2       # the identical ones were there
    # and each was matched by its connection (pen's source port = the server's rport)
    assert f"({len(sent)} by connection, 0 by request" in (stack.tmp / "penlogd.err").read_text()
    # both backends served and were merged
    assert len(lines_of(stack.tmp / "nginx.log")) + len(lines_of(stack.tmp / "httpd.log")) == len(sent)
    assert lines_of(stack.tmp / "nginx.log") and lines_of(stack.tmp / "httpd.log")


def test_offline_pen_file_log_mergelogs(stack: Stack) -> None:
    """pen -l FILE and the servers' own log files, merged afterwards by mergelogs.

    C's file format has no ports, so requests are told apart by their request line here
    (unique paths); when pen writes the connection extension, by connection."""
    stack.start_nginx()
    stack.start_httpd()
    penlog = stack.tmp / "pen.log"
    with Pen(f"127.0.0.1:{stack.nginx_port}", f"127.0.0.1:{stack.httpd_port}",
             opts=["-r", "-l", str(penlog)]) as pen:
        sent = flood(pen, identical=False)
        wait_for(lambda: len(lines_of(stack.tmp / "nginx.log")) + len(lines_of(stack.tmp / "httpd.log"))
                 >= len(sent), 30, "the servers' log lines")
    assert len(lines_of(penlog)) == len(sent)
    r = subprocess.run([str(BIN / "mergelogs"), "-p", str(penlog),
                        f"127.0.0.1:{stack.tmp / 'nginx.log'}", f"127.0.0.1:{stack.tmp / 'httpd.log'}"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""            # no progress bar in a pipe, nothing unparsed
    check_attribution(r.stdout.splitlines(), sent)


def test_nginx_syslog_straight_to_penlogd(stack: Stack) -> None:
    """nginx's `access_log syslog:server=...`: no penlog; penlogd strips the syslog header.
    pen's entries are injected, with the source ports the clients bind beforehand."""
    from support.logs import send

    from pen.core.formats.accesslog import PenEntry, net_datagram
    proc, stack.log_port, merged = start_penlogd(stack.tmp, "--hold", "5")
    stack.procs.append(proc)
    stack.start_nginx(syslog=True)
    socks = []
    for i, client in enumerate(CLIENTS):
        s = socket.socket()
        s.settimeout(10)
        s.bind(("127.0.0.1", 0))
        lport = s.getsockname()[1]
        send(stack.log_port, net_datagram(PenEntry(client, 1, "127.0.0.1", stack.nginx_port, lport,
                                                   0, "GET / HTTP/1.1")))
        socks.append(s)
    for s in reversed(socks):             # served (and logged) in the reverse order
        with s:
            s.connect(("127.0.0.1", stack.nginx_port))
            s.sendall(f"GET / HTTP/1.1\r\nHost: t\r\nUser-Agent: e2e-{CLIENTS[socks.index(s)]}-0\r\n"
                      "Connection: close\r\n\r\n".encode())
            while s.recv(4096):
                pass
    wait_for(lambda: len(lines_of(merged)) >= len(CLIENTS), 20, "merged syslog lines")
    check_attribution(lines_of(merged), [f"e2e-{c}-0" for c in CLIENTS])
