"""Our pen's control port end to end: every command through the socket (docs/penctl.md)."""
from __future__ import annotations

import os
import signal
import socket
import stat

import pytest
from support.control import cmd, ctl, pid_alive, start_pen, wait_control

from support.procs import fetch_name, free_port, wait_for

pytestmark = pytest.mark.usefixtures("each_worker_count")   # 1 process and --workers 2

MODE0 = "no hash no roundrobin no stubborn no weight no prio\n"


@pytest.fixture
def running(tmp_path, backends):
    a, b = backends("name", "a", "b")
    pen, path = start_pen(tmp_path, a.addr, b.addr,
                          opts=["-X", "-w", str(tmp_path / "ws.html"), "-o", "blacklist 30"])
    yield pen, path, a, b, tmp_path
    pen.stop()


def line_of(a) -> str:
    return f"addr 127.0.0.1 port {a.port} conn 0 max 0 hard 0 weight 0 prio 0"


def test_raw_protocol_captures(running) -> None:
    """docs/penctl.md "The control port": one command per connection, CR/LF cut, leading/trailing spaces, case."""
    pen, path, a, b, _ = running
    pid = str(pen.proc.pid).encode()
    assert ctl(path, b"pid\n") == pid + b"\n"
    assert ctl(path, b"pid\nmode\n") == pid + b"\n"
    assert ctl(path, b"mode") == MODE0.encode()              # no newline: run after a pause
    assert ctl(path, b"mode\r\n") == MODE0.encode()
    assert ctl(path, b"  mode\n") == MODE0.encode()
    assert ctl(path, b"tarpit_acl\n") == b"tarpit_acl = -1"
    assert ctl(path, b"source bogus\n") == b"unable to set source address to 'bogus'"
    assert ctl(path, b"timeout\n") == b"3\n"
    assert ctl(path, b"MODE\n") == b"do_cmd: ignoring command starting with 'MODE'\n"
    assert ctl(path, b"server  0  max  0\n") == b""
    assert ctl(path, b"\n") == b""


def held_connection_commands(pen, c) -> None:
    """A held connection shows up in connection/socket/close."""
    held = pen.connect()
    held.recv(100)
    n = wait_for(lambda: [i for i in range(5) if "state = 2" in c(f"connection {i}")],
                 5, what="conn")[0]
    text = c(f"connection {n}")
    downfd = int(text.split("downfd = ")[1].split(",")[0])
    assert c(f"socket {downfd}") == f"Socket {downfd} belongs to connection {n}\n"
    assert c(f"close {n}") == f"Forcibly closing connection {n}\n"
    held.settimeout(5)
    assert held.recv(100) == b""
    held.close()


def test_every_command(running) -> None:
    pen, path, a, b, tmp = running
    c = lambda line: cmd(path, line)  # noqa: E731
    past = 500 * pen.workers + 100      # connection numbers run over every worker's -x slots
    assert c("pid") == f"{pen.proc.pid}\n"
    assert c("control") == f"{path}\n"
    assert c("listen") == f"{pen.listen}\n"
    assert c("servers") == f"0 {line_of(a)} sx 0 rx 0\n1 {line_of(b)} sx 0 rx 0\n"
    for line, expected in [("blacklist", "30\n"), ("timeout", "3\n"), ("tracking", "0\n"),
                           ("debug", "0\n"), ("clients_max", "2048\n"), ("conn_max", "500\n"),
                           ("client_acl", "0\n"), ("control_acl", "0\n"),
                           ("tarpit_acl", "tarpit_acl = -1"), ("log", ""),
                           ("web_stats", f"{tmp / 'ws.html'}\n"),
                           ("idle_timeout", "Idle timeout: 0 seconds\n"),
                           ("idlers", "Idlers: 0/0\n"), ("recent", ""),
                           (f"connection {past}", f"Connection {past} out of range\n"),
                           (f"close {past}", f"Connection {past} out of range\n"),
                           ("socket 5", "Socket 5 belongs to connection -1\n")]:
        assert c(line) == expected, line
    # traffic, then the counters
    assert fetch_name(pen) in ("a", "b")
    wait_for(lambda: "connects 1" in c("recent"), 5, what="recent")
    assert c("recent").startswith("127.0.0.1 connects 1 sx ")
    assert c("recent 10").startswith("127.0.0.1 connects 1")
    held_connection_commands(pen, c)    # with workers, asked of the worker that holds it
    # setters
    for line, expected in [("blacklist 10", "10\n"), ("timeout 5", "5\n"),
                           ("tracking 60", "60\n"), ("debug 1", "1\n"), ("debug 0", "0\n"),
                           ("clients_max 4096", "4096\n"), ("clients_max 100", "4096\n"),
                           ("conn_max 600", "600\n"), ("conn_max 10", "600\n"),
                           ("client_acl 3", "3\n"), ("client_acl 12", "0\n"),
                           ("control_acl 5", "5\n"), ("control_acl 0", "0\n"),
                           ("tarpit_acl 2", "tarpit_acl = 2"), ("tarpit_acl -1", "tarpit_acl = -1"),
                           ("idle_timeout 30", "Idle timeout: 30 seconds\n"),
                           ("idle_timeout -5", "Idle timeout: 0 seconds\n"),
                           ("tcp_fastclose", "do_cmd: ignoring tcp_fastclose without argument\n")]:
        assert c(line) == expected, line
    for line in ("pending_max 50", "http", "no http", "ascii", "no ascii", "tcp_nodelay",
                 "no tcp_nodelay", "tcp_fastclose both", "tcp_fastclose off", "transparent",
                 "no transparent", "keepalive", "no keepalive", "abort_on_error",
                 "no abort_on_error", "source 127.0.0.1", "no source", "no block", "no",
                 "no such_thing", "epoll", "poll", "select", "kqueue", "# a comment",
                 "ssl_ciphers HIGH:!aNULL", "ssl_option no_sslv3", "ssl_option bogus",
                 "ssl_sni_path /srv/ssl", "ssl_ocsp_response /x.ocsp",
                 "ssl_client_renegotiation_interval 60", "dsr_ip 192.0.2.10",
                 "acl 1 permit 127.0.0.1", "acl 1 deny 10.0.0.0 255.0.0.0",
                 "acl 2 permit ::1/128", "acl 3 deny country SE", "no acl 3",
                 "hash", "roundrobin", "stubborn", "weight", "prio"):
        assert c(line) == "", line
    assert c("mode") == "hash roundrobin stubborn weight prio\n"
    for flag in ("hash", "roundrobin", "stubborn", "weight", "prio"):
        c(f"no {flag}")
    assert c("mode") == MODE0
    assert c("block") == "do_cmd: ignoring command starting with 'block'\n"
    # servers
    assert c(f"server 2 address 127.0.0.1 port {a.port} max 5 hard 8 weight 1 prio 1") == ""
    assert c("server 4 address 0.0.0.0 port 0") == ""
    lines = c("servers").splitlines()
    assert lines[2] == f"2 addr 127.0.0.1 port {a.port} conn 0 max 5 hard 8 weight 1 prio 1 sx 0 rx 0"
    assert lines[3] == "3 addr (unknown address family 0 port 0 conn 0 max 0 hard 0 weight 0 prio 0 sx 0 rx 0"
    assert lines[4] == "4 addr 0.0.0.0 port 0 conn 0 max 0 hard 0 weight 0 prio 0 sx 0 rx 0"
    assert c("server 0 address no.such.host.invalid port 10099").startswith("error: ")
    assert c("servers").splitlines()[0].startswith(f"0 addr 127.0.0.1 port {a.port} ")
    assert c("server 1 blacklist 60") == ""
    assert "blacklisted" not in c("servers")
    # log, web_stats, status, include, write
    log = tmp / "pen2.log"
    assert c(f"log {log}") == f"{log}\n" and c("log") == f"{log}\n"
    assert c("no log") == "" and c("log") == ""
    assert c("no web_stats") == "" and c("web_stats") == ""
    assert c("status").startswith("<html>")       # without -w: the page, no file (pen-ha)
    assert c(f"web_stats {tmp / 'ws.html'}") == f"{tmp / 'ws.html'}\n"
    page = c("status")
    assert page.startswith("<html>") and (tmp / "ws.html").read_text() == page
    (tmp / "inc.cfg").write_text("timeout 4\nmode\nservers\n")
    assert c(f"include {tmp / 'inc.cfg'}") == "" and c("timeout") == "4\n"
    assert c(f"write {tmp / 'w.cfg'}") == ""
    assert "timeout 4\n" in (tmp / "w.cfg").read_text()
    # listen moves
    other = free_port()
    if pen.workers > 1:         # the workers hold the listeners: refused, pen keeps serving
        assert c(f"listen 127.0.0.1:{other}").startswith(
            f"error: listen 127.0.0.1:{other}: not with --workers")
        assert c("listen") == f"{pen.listen}\n"
    else:
        assert c(f"listen 127.0.0.1:{other}") == f"127.0.0.1:{other}\n"
        with socket.create_connection(("127.0.0.1", other), timeout=5) as s:
            assert s.recv(100).startswith(b"served-by ")
        # the test still holds the original port (no SO_REUSEPORT): refused, old listener kept
        assert c(f"listen {pen.listen}").startswith(f"error: listen {pen.listen}: ")
        assert c("listen") == f"127.0.0.1:{other}\n"
        pen.port = other
    # dummy
    c("dummy")
    with pen.connect() as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        assert b"Ulric was here." in s.recv(1000)
    c("no dummy")
    assert fetch_name(pen) in ("a", "b")
    # exit (-X): pen exits 0
    assert c("exit") == ""
    assert pen.proc.wait(10) == 0


@pytest.mark.parametrize("line", ["idlers 2", "source", "no acl", "ssl_client_renegotiation_interval",
                                  "ssl_ocsp_response", "server 99999999", "peek", "dsr_if lo",
                                  "timeout 0", "blacklist x", "server 0 wieght 3"])
def test_crashers_get_an_error_and_pen_keeps_serving(running, line: str) -> None:
    pen, path, a, b, _ = running
    reply = cmd(path, line)
    assert reply.startswith("error: ") and reply.endswith("\n")
    assert cmd(path, "pid") == f"{pen.proc.pid}\n"
    assert fetch_name(pen) in ("a", "b")
    assert pen.proc.poll() is None


def test_exit_needs_x(tmp_path, backends) -> None:
    (a,) = backends("name", "a")
    pen, path = start_pen(tmp_path, a.addr)
    assert cmd(path, "exit") == "Exit is not enabled; restart with -X flag\n"
    assert pen.proc.poll() is None
    pen.stop()


def test_unix_control_socket_is_private_and_settable(tmp_path, backends) -> None:
    (a,) = backends("name", "a")
    pen, path = start_pen(tmp_path, a.addr)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    pen.stop()


def _listening_host(port: int) -> str:
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in open(name).read().splitlines()[1:]:
            local, state = row.split()[1], row.split()[3]
            host, p = local.split(":")
            if int(p, 16) == port and state == "0A":
                return host
    return ""


def test_control_port_without_host_binds_loopback(tmp_path, backends) -> None:
    (a,) = backends("name", "a")
    from support.procs import Pen
    for attempt in range(5):
        port = free_port()
        pen = Pen(a.addr, opts=["-C", str(port)])
        try:
            wait_control(f"127.0.0.1:{port}", 5)
        except TimeoutError:
            pen.stop()
            continue
        try:
            assert _listening_host(port) == "0100007F"        # 127.0.0.1
            assert cmd(f"127.0.0.1:{port}", "control") == f"{port}\n"
            assert "unauthenticated" not in pen.errors()
        finally:
            pen.stop()
        return
    pytest.fail("no free port for the control port")


def test_non_loopback_control_port_warns(tmp_path, backends) -> None:
    (a,) = backends("name", "a")
    from support.procs import Pen
    port = free_port()
    pen = Pen(a.addr, opts=["-C", f"0.0.0.0:{port}"])
    try:
        wait_control(f"127.0.0.1:{port}", 5)
        assert "unauthenticated" in pen.errors()
    finally:
        pen.stop()


def test_control_acl_is_enforced(running) -> None:
    pen, path, a, b, _ = running
    tcp_port = free_port()
    # unix clients are always permitted (docs/penctl.md); use a TCP control port to see the ACL bite
    from support.procs import Pen
    p2 = Pen(a.addr, opts=["-C", f"127.0.0.1:{tcp_port}", "-o", "acl 5 deny 127.0.0.1",
                           "-o", "control_acl 5"])
    try:
        assert ctl(f"127.0.0.1:{tcp_port}", "pid\n") == b""
        wait_for(lambda: "not from there" in p2.errors(), 5, what="log line")
        assert fetch_name(p2) == "a"
    finally:
        p2.stop()


def test_startup_commands_print_to_stdout(tmp_path, backends) -> None:
    """-o/-O replies go to pen's stdout, as C pen (docs/configuration.md)."""
    (a,) = backends("name", "a")
    pen, path = start_pen(tmp_path, a.addr, opts=["-X", "-o", "blacklist 20", "-O", "mode"])
    assert cmd(path, "blacklist") == "20\n"
    cmd(path, "exit")
    assert pen.proc.wait(10) == 0
    assert pen.proc.stdout.read().decode() == "20\n" + MODE0
    pen.stop()


def test_usr1_writes_stats_and_html(running) -> None:
    pen, path, a, b, tmp = running
    assert fetch_name(pen) in ("a", "b")
    pen.signal(signal.SIGUSR1)
    wait_for(lambda: (tmp / "ws.html").exists() and "Active clients" in (tmp / "ws.html").read_text(),
             5, what="ws.html")
    wait_for(lambda: "Server 1 status:" in pen.errors(), 5, what="USR1 text")
    assert "Max number of connections: 500" in pen.errors()
    assert pid_alive(pen.proc.pid)
