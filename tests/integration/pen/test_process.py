"""The command line, signals, log file, pid file, daemon mode (pen(1); docs/pen.md "Signals")."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

import pytest

from support.procs import PEN, Pen, fetch_name, wait_for


def run_pen(*args: str, timeout: float = 10) -> subprocess.CompletedProcess:
    return subprocess.run([str(PEN), *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("args,message", [
    (["-t", "0", "-f", "127.0.0.1:1", "127.0.0.1:2"], "-t"),
    (["-Y", "127.0.0.1:1"], "No such option"),
    (["-f"], "no listen address"),
    (["-f", "127.0.0.1:1", "no.such.host.invalid:80"], "unknown or invalid address"),
    (["-f", "127.0.0.1:1", "127.0.0.1:80:x"], "max 'x' is not a number"),
    (["-f", "127.0.0.1:99999", "127.0.0.1:80"], "must be 1-65535"),
    (["-L", "bogus", "-f", "127.0.0.1:1", "127.0.0.1:2"], "protocol version bogus not known"),
    (["-u", "no-such-user-x", "-f", "127.0.0.1:1", "127.0.0.1:2"], "no such user"),
    (["-N", "-f", "127.0.0.1:1", "127.0.0.1:2"], "-N"),
    (["-x", "-5", "-f", "127.0.0.1:1", "127.0.0.1:2"], "-x"),
    (["-t", "x", "-f", "127.0.0.1:1", "127.0.0.1:2"], "-t"),
    (["-e", "h:1:x", "-f", "127.0.0.1:1", "127.0.0.1:2"], "-e"),
])
def test_bad_command_lines_say_what_is_wrong_and_exit_non_zero(args, message) -> None:
    r = run_pen(*args)
    assert r.returncode != 0
    assert message in r.stderr, r.stderr


def test_listen_failure_is_reported(tmp_path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        # a different user of the port without SO_REUSEPORT: pen cannot bind
        r = run_pen("-f", f"127.0.0.1:{port}", "127.0.0.1:9")
    assert r.returncode == 1 and "cannot listen on" in r.stderr


def test_help_and_version() -> None:
    r = run_pen("--help")
    assert r.returncode == 0 and "-h" in r.stdout and "Hash-based" in r.stdout
    r = run_pen("--version")
    assert r.returncode == 0 and "0.34.1" in r.stdout


@pytest.mark.parametrize("letter,notice", [
    ("-D", "delayed forward"), ("-n", "nonblocking"), ("-Q", "kqueue"), ("-S4", "dynamically"),
])
def test_obsolete_options_print_the_notice_and_go_on(backends, letter, notice) -> None:
    (a,) = backends("name", "a")
    pen = Pen(a.addr, opts=[letter])
    try:
        assert notice in pen.errors()
        assert fetch_name(pen) == "a"
    finally:
        pen.stop()


def test_bumped_values(backends) -> None:
    (a,) = backends("name", "a")
    pen = Pen(a.addr, opts=["-m", "0", "-q", "10"])
    try:
        assert "multi_accept bumped to 1" in pen.errors()
        assert "listen_queue bumped to 50" in pen.errors()
        assert fetch_name(pen) == "a"
    finally:
        pen.stop()


def test_sigterm_exits_cleanly_and_removes_the_pidfile(backends, tmp_path) -> None:
    (a,) = backends("name", "a")
    pidfile = tmp_path / "pen.pid"
    pen = Pen(a.addr, opts=["-p", str(pidfile)])
    assert pidfile.read_text() == str(pen.proc.pid)       # no trailing newline, as C pen
    held = pen.connect()
    pen.signal(signal.SIGTERM)
    assert pen.proc.wait(5) == 0
    assert not pidfile.exists()
    assert held.recv(100) in (b"served-by a\n", b"")
    held.close()
    pen.stop()


def test_request_log_file_and_sighup_reopen(backends, tmp_path) -> None:
    """-l FILE: C pen's format, written per line (nothing buffered); HUP reopens it."""
    (h,) = backends("http", "h")
    logfile = tmp_path / "pen.log"
    pen = Pen(h.addr, opts=["-l", str(logfile)])
    try:
        def get(path: str) -> None:
            with pen.connect(source="127.0.0.2") as s:
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                s.recv(4096)
        get("/first")
        line = wait_for(lambda: logfile.read_text(), 5, what="a log line")
        client, epoch, server, request = line.rstrip("\n").split(" ", 3)
        assert (client, server, request) == ("127.0.0.2", "127.0.0.1", "GET /first HTTP/1.1")
        assert abs(int(epoch) - time.time()) < 5
        os.rename(logfile, tmp_path / "pen.log.1")
        pen.signal(signal.SIGHUP)
        wait_for(logfile.exists, 5, what="the reopened log")
        get("/second")
        assert wait_for(lambda: "GET /second" in logfile.read_text(), 5)
        assert "/second" not in (tmp_path / "pen.log.1").read_text()
    finally:
        pen.stop()


def test_sigusr1_prints_statistics(backends) -> None:
    (a,) = backends("name", "a")
    pen = Pen(a.addr)
    try:
        assert fetch_name(pen) == "a"
        pen.signal(signal.SIGUSR1)
        wait_for(lambda: "127.0.0.1" in pen.errors() or "connections" in pen.errors(), 5,
                 what="statistics on stderr")
    finally:
        pen.stop()


def test_daemon_mode_detaches_and_writes_pidfile(backends, tmp_path) -> None:
    (a,) = backends("name", "a")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    pidfile = tmp_path / "pen.pid"
    r = run_pen("-p", str(pidfile), f"127.0.0.1:{port}", a.addr)
    assert r.returncode == 0
    pid = int(wait_for(lambda: pidfile.exists() and pidfile.read_text(), 5, what="pid file"))
    try:
        def served() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                    return s.recv(100) == b"served-by a\n"
            except OSError:
                return False
        assert wait_for(served, 5, what="the daemon serving")
    finally:
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not pidfile.exists(), 5, what="pid file removal")


@pytest.mark.root
def test_user_and_chroot_drop_everything(backends, tmp_path) -> None:
    """-j and -u: after start-up pen runs as nobody inside the jail, and still serves."""
    (a,) = backends("name", "a")
    jail = tmp_path / "jail"
    jail.mkdir()
    pen = Pen(a.addr, opts=["-j", str(jail), "-u", "nobody", "-l", "/access.log"])
    try:
        assert fetch_name(pen) == "a"
        status = open(f"/proc/{pen.proc.pid}/status").read()
        nobody = __import__("pwd").getpwnam("nobody")
        uids = next(l for l in status.splitlines() if l.startswith("Uid:")).split()[1:]
        gids = next(l for l in status.splitlines() if l.startswith("Gid:")).split()[1:]
        caps = next(l for l in status.splitlines() if l.startswith("CapEff:")).split()[1]
        groups = next(l for l in status.splitlines() if l.startswith("Groups:")).split()[1:]
        assert uids == [str(nobody.pw_uid)] * 4 and gids == [str(nobody.pw_gid)] * 4
        assert groups == []            # root's supplementary groups dropped too
        assert int(caps, 16) == 0
        assert os.readlink(f"/proc/{pen.proc.pid}/root") == str(jail)
        wait_for(lambda: (jail / "access.log").exists(), 5, what="log inside the jail")
    finally:
        pen.stop()


def test_sd_notify_watchdog_pings(backends) -> None:
    """WATCHDOG_USEC set: pen pings WATCHDOG=1 at half the interval, from its event loop."""
    (a,) = backends("name", "a")
    pen = Pen(a.addr, env={"WATCHDOG_USEC": "200000"})
    try:
        pen.notify.settimeout(2)
        pings = 0
        while pings < 3:
            if b"WATCHDOG=1" in pen.notify.recv(4096):
                pings += 1
        assert fetch_name(pen) == "a"
    finally:
        pen.stop()


def test_log_ports_adds_the_connection_to_file_lines(backends, tmp_path) -> None:
    """`log_ports`: the file line gets `\\tconn cport=.. sport=.. lport=..` (for mergelogs)."""
    (h,) = backends("http", "h")
    logfile = tmp_path / "pen.log"
    pen = Pen(h.addr, opts=["-l", str(logfile), "-O", "log_ports"])
    try:
        with pen.connect(source="127.0.0.3") as s:
            cport = s.getsockname()[1]
            s.sendall(b"GET /p HTTP/1.1\r\nHost: x\r\n\r\n")
            s.recv(4096)
        line = wait_for(lambda: logfile.read_text(), 5, what="a log line")
        head, conn = line.rstrip("\n").split("\t")
        assert head.endswith(" 127.0.0.1 GET /p HTTP/1.1") and head.startswith("127.0.0.3 ")
        assert f"cport={cport}" in conn and f"sport={h.port}" in conn and "lport=" in conn
    finally:
        pen.stop()


def test_start_up_imports_only_what_the_options_use(backends) -> None:
    """Start-up time (issue 16): a plain `pen -f` imports no peer, DSR, UDP, PROXY, TLS
    handshake or syslog code, no HTML parser and not click (PYTHONVERBOSE lists every module
    the process imported, on stderr)."""
    (a,) = backends("name", "a")
    with Pen(a.addr, env={"PYTHONVERBOSE": "1"}) as pen:
        assert fetch_name(pen) == "a"
        imported = {line.split("'")[1] for line in pen.errors().splitlines()
                    if line.startswith("import '")}
    assert "pen.engine.balancer" in imported                 # the listing is complete
    unused = {"pen.engine.peers", "pen.engine.dsr", "logging.handlers", "html.parser", "click",
              "pen.engine.udp", "pen.engine.proxyin", "pen.core.formats.proxyproto",
              "pen.engine.tlsaccept", "pen.engine.dummy", "tempfile"}
    assert not unused & imported, unused & imported
