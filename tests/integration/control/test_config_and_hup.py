"""-F files at start-up and on SIGHUP; `write` round trip (docs/configuration.md)."""
from __future__ import annotations

import signal
import subprocess

import pytest
from support.procs import PEN, wait_for
from support.control import cmd, start_pen

pytestmark = pytest.mark.usefixtures("each_worker_count")   # 1 process and --workers 2


def test_file_refines_the_command_line_and_include(tmp_path, backends) -> None:
    a, b, c = backends("name", "a", "b", "c")
    (tmp_path / "sub.cfg").write_text("tracking 60\n")
    cfg = tmp_path / "pen.cfg"
    cfg.write_text(f"# test\nserver 0 weight 7 prio 4\n\nserver 2 address 127.0.0.1 port {c.port} weight 9\n"
                   "weight\ninclude sub.cfg\nblacklist 30\n")
    pen, path = start_pen(tmp_path, a.addr, f"{b.addr}:2", opts=["-o", "server 1 max 5", "-F", str(cfg)])
    lines = cmd(path, "servers").splitlines()
    # unlike C pen (docs/configuration.md "Start-up order") the file wins over the command line
    assert " max 0 hard 0 weight 7 prio 4 " in lines[0]
    assert " max 5 hard 0 weight 0 prio 0 " in lines[1]
    assert lines[2].startswith(f"2 addr 127.0.0.1 port {c.port} ") and " weight 9 " in lines[2]
    assert cmd(path, "mode") == "no hash no roundrobin no stubborn weight no prio\n"
    assert cmd(path, "tracking") == "60\n"
    pen.stop()


def test_bad_file_is_fatal_at_startup_and_names_the_line(tmp_path, backends) -> None:
    (a,) = backends("name", "a")
    cfg = tmp_path / "bad.cfg"
    cfg.write_text("blacklist 20\n# fine\nserver 0 wieght 3\n")
    r = subprocess.run([str(PEN), "-f", "-F", str(cfg), "127.0.0.1:1", a.addr],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 1
    assert f"{cfg}:3:" in r.stderr and "wieght" in r.stderr
    r = subprocess.run([str(PEN), "-f", "-o", "bogus_cmd", "127.0.0.1:1", a.addr],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 1 and "bogus_cmd" in r.stderr


def test_hup_applies_the_file_and_a_broken_file_keeps_the_old_config(tmp_path, backends) -> None:
    a, b, c = backends("name", "a", "b", "c")
    cfg = tmp_path / "pen.cfg"
    log = tmp_path / "pen.log"
    cfg.write_text("blacklist 30\n")
    pen, path = start_pen(tmp_path, a.addr, b.addr, opts=["-F", str(cfg), "-l", str(log)])
    before = cmd(path, "servers")
    cfg.write_text(f"# updated\nblacklist 20\nserver 1 address 127.0.0.1 port {c.port}\nhash\n")
    log.rename(tmp_path / "pen.log.1")
    pen.signal(signal.SIGHUP)
    wait_for(lambda: cmd(path, "blacklist") == "20\n", 5, what="HUP applied")
    assert f"1 addr 127.0.0.1 port {c.port} " in cmd(path, "servers")
    assert cmd(path, "mode").startswith("hash ")
    wait_for(log.exists, 5, what="log reopened")
    wait_for(lambda: f"SIGHUP: {cfg} applied (" in pen.errors(), 5, what="the reload said so")
    good = cmd(path, "servers")
    assert good != before
    # a broken file: nothing of it applies, the error names the line
    cfg.write_text(f"blacklist 5\nserver 0 port 1\nno hash\nserver 1 address no.such.host.invalid\n")
    pen.signal(signal.SIGHUP)
    wait_for(lambda: f"{cfg}:4:" in pen.errors(), 5, what="HUP error logged")
    assert "no.such.host.invalid" in pen.errors()
    assert cmd(path, "blacklist") == "20\n"
    assert cmd(path, "servers") == good
    assert cmd(path, "mode").startswith("hash ")
    # and a file that cannot be read at all
    cfg.unlink()
    pen.signal(signal.SIGHUP)
    wait_for(lambda: "cannot read" in pen.errors(), 5, what="HUP read error logged")
    assert cmd(path, "blacklist") == "20\n" and pen.proc.poll() is None
    assert pen.errors().count("applied (") == 1            # only the good reload said so
    pen.stop()


def test_write_round_trip(tmp_path, backends) -> None:
    """`write` renders the whole running configuration; `pen -F written.cfg` reproduces it."""
    a, b = backends("name", "a", "b")
    lb = str(tmp_path / "lb.sock")
    pen, path = start_pen(tmp_path, a.addr, b.addr, listen=lb,
                          opts=["-w", str(tmp_path / "ws.html")])
    for line in ("acl 1 permit 127.0.0.1", "acl 1 deny 10.0.0.0 255.0.0.0", "acl 2 permit ::1/64",
                 "blacklist 12", "timeout 7", "tracking 60", "client_acl 1", "tarpit_acl 3",
                 "clients_max 4096", "conn_max 900", "idle_timeout 30", "pending_max 20", "http",
                 "keepalive", "tcp_nodelay", "tcp_fastclose up", "source 127.0.0.1",
                 "ssl_ciphers HIGH", "ssl_option no_tlsv1", f"log {tmp_path / 'pen.log'}",
                 "server 0 max 10 hard 20 weight 3 prio 2 acl 1", "server 1 weight 5",
                 "server 3 address 127.0.0.1 port 9 max 1", "hash", "stubborn", "prio"):
        reply = cmd(path, line)
        assert not reply.startswith(("error", "do_cmd")), (line, reply)
    written = tmp_path / "written.cfg"
    assert cmd(path, f"write {written}") == ""
    readers = ("servers", "mode", "blacklist", "timeout", "tracking", "client_acl", "control_acl",
               "tarpit_acl", "clients_max", "conn_max", "idle_timeout", "log", "web_stats", "listen")
    first = {r: cmd(path, r) for r in readers}
    pen.stop()
    # the second pen gets nothing but the file (its positional listen is the same path)
    pen2, path2 = start_pen(tmp_path, listen=lb, opts=["-F", str(written)])
    second = {r: cmd(path2, r) for r in readers}
    assert second == first
    again = tmp_path / "again.cfg"
    cmd(path2, f"write {again}")
    strip = lambda t: t.splitlines()[2:]  # noqa: E731  (header: date and -F path)
    assert strip(again.read_text()) == strip(written.read_text())
    pen2.stop()
