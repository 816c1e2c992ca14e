"""Confinement (issue 10): run-time `write`, `log`, `web_stats`, `include` stay inside the
allowed directories; after -u no privilege remains; -j holds; any control line keeps pen up."""
from __future__ import annotations

import os
import pwd
import random
import socket

import pytest
from support.procs import wait_for
from support.control import cmd, ctl, start_pen
from support.reliability import FaultyBackend

ATTEMPTS = ["write {x}", "log {x}", "web_stats {x}", "include {x}"]


def refused(path: str, line: str) -> bool:
    reply = cmd(path, line)
    return reply.startswith("error: ") and "refused" in reply


def test_run_time_file_commands_are_confined(tmp_path, summary) -> None:
    """Default: the directories of -F/-l/-w.  Outside them (or through a symlink out of them),
    every attempt is refused with `error:` and logged; inside, the commands work."""
    be = FaultyBackend()
    home = tmp_path / "etc-pen"
    home.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.cfg").write_text("root:x:0:0:secret\n")
    (home / "escape").symlink_to(outside)
    (home / "link.cfg").symlink_to(outside / "secret.cfg")
    cfg = home / "pen.cfg"
    cfg.write_text("blacklist 5\n")
    pen, path = start_pen(tmp_path, be.addr, opts=["-F", str(cfg), "-w", str(home / "ws.html")])
    try:
        bad = [outside / "x", home / "escape" / "x", home / ".." / "outside" / "y", "/etc/pen-x",
               outside / "secret.cfg", home / "link.cfg"]
        refusals = 0
        for target in bad:
            for attempt in ATTEMPTS:
                line = attempt.format(x=target)
                assert refused(path, line), line
                refusals += 1
        leaked = "secret" in cmd(path, f"include {home / 'link.cfg'}")
        assert not any(p.name in ("x", "y") for p in outside.iterdir())
        assert not os.path.exists("/etc/pen-x")
        assert (outside / "secret.cfg").read_text() == "root:x:0:0:secret\n"
        # the same commands inside the allowed directory work
        assert cmd(path, f"write {home / 'w.cfg'}") == ""
        assert cmd(path, f"log {home / 'pen.log'}") == f"{home / 'pen.log'}\n"
        assert cmd(path, f"web_stats {home / 'ws2.html'}") == f"{home / 'ws2.html'}\n"
        (home / "inc.cfg").write_text("timeout 4\n")
        assert cmd(path, f"include {home / 'inc.cfg'}") == "" and cmd(path, "timeout") == "4\n"
        assert cmd(path, "write") == "" and "timeout 4" in cfg.read_text()
        # confinement cannot be widened at run time
        assert cmd(path, "confine_dir /").startswith("error: ")
        logged = pen.errors().count("refused, outside the directories")
        summary(refusals=refusals, logged=logged, leaked=leaked, allowed_dir=home.name)
        assert logged >= refusals and not leaked
    finally:
        pen.stop()
        be.kill()


def test_explicit_confine_dir_and_sighup(tmp_path) -> None:
    """--confine DIR replaces the default directories; files named at start-up stay usable,
    and a -F file edited to escape is refused on SIGHUP (the running configuration stays)."""
    import signal
    be = FaultyBackend()
    jail = tmp_path / "confined"
    jail.mkdir()
    cfg = tmp_path / "pen.cfg"
    cfg.write_text("blacklist 5\n")
    pen, path = start_pen(tmp_path, be.addr, opts=["--confine", str(jail), "-F", str(cfg)])
    try:
        assert cmd(path, "confine_dir") == f"{jail}\n"
        assert cmd(path, f"write {jail / 'a.cfg'}") == ""
        assert refused(path, f"write {tmp_path / 'b.cfg'}")     # -F's directory: not by default
        assert cmd(path, "write") == ""                         # -F itself: still allowed
        cfg.write_text(f"blacklist 7\nlog {tmp_path / 'evil.log'}\n")
        pen.signal(signal.SIGHUP)
        wait_for(lambda: "evil.log: refused" in pen.errors(), 5, what="HUP refusal logged")
        assert cmd(path, "blacklist") == "5\n" and not (tmp_path / "evil.log").exists()
    finally:
        pen.stop()
        be.kill()


@pytest.mark.root
def test_no_privilege_after_user_and_chroot_holds(tmp_path, summary) -> None:
    """-u nobody -j JAIL: every id is nobody's, no supplementary group, no capability in any
    set; the root is the jail, and run-time commands cannot read or write outside it."""
    be = FaultyBackend()
    jail = tmp_path / "jail"
    jail.mkdir()
    os.chmod(tmp_path, 0o755)
    os.chmod(jail, 0o777)
    pen, path = start_pen(tmp_path, be.addr,
                          opts=["-j", str(jail), "-u", "nobody", "-w", "/ws.html"])
    try:
        pid = pen.proc.pid
        status = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status") if ":" in line)
        nobody = pwd.getpwnam("nobody")
        uids, gids = status["Uid"].split(), status["Gid"].split()
        caps = {k: int(status[k], 16) for k in ("CapInh", "CapPrm", "CapEff", "CapAmb")}
        groups = status["Groups"].split()
        root = os.readlink(f"/proc/{pid}/root")
        leak = cmd(path, "include /etc/passwd")
        wrote = cmd(path, "write /etc/pen-escape")
        summary(uid=uids[0], gid=gids[0], groups=len(groups),
                caps=",".join(f"{k}={v:x}" for k, v in caps.items()), root=root,
                include_outside=leak.split(":")[0], write_outside=wrote.split(":")[0])
        assert uids == [str(nobody.pw_uid)] * 4 and gids == [str(nobody.pw_gid)] * 4
        assert groups == [] and not any(caps.values())
        assert root == str(jail)
        assert leak.startswith("error: ") and "root" not in leak.replace("/root", "")
        assert wrote.startswith("error: ") and not os.path.exists("/etc/pen-escape")
        assert cmd(path, "write /ws.cfg") == ""
        assert (jail / "ws.cfg").exists()              # written inside the jail
    finally:
        pen.stop()
        be.kill()


def test_random_control_lines_never_stop_the_daemon(tmp_path, summary) -> None:
    """300 random lines (command words, numbers, paths, binary) to the live control port:
    pen answers or refuses each, keeps serving, and never logs an internal error."""
    be = FaultyBackend()
    pen, path = start_pen(tmp_path, be.addr, opts=["-w", str(tmp_path / "ws.html")])
    words = ["server", "acl", "no", "listen", "log", "write", "include", "close", "connection",
             "socket", "conn_max", "clients_max", "idlers", "source", "dsr_if", "tarpit_acl",
             "recent", "status", "servers", "check", "drain", "address", "port", "weight",
             "permit", "deny", "-1", "0", "1", "65536", "99999999999999999999", "::1", "x" * 300,
             "127.0.0.1", "/dev/null", str(tmp_path / "f"), "country", "confine_dir", "exit",
             "queue_max", "hash_method", "send_proxy", "server_state"]
    rng = random.Random(10)        # (`takeover` is left out: it hands the listener over, by design)
    answered = errors = 0
    try:
        for i in range(300):
            if i % 10 == 9:
                line = rng.randbytes(rng.randint(1, 200))
            else:
                line = " ".join(rng.choice(words) for _ in range(rng.randint(1, 7))).encode()
            reply = ctl(path, line + b"\n")
            answered += 1
            errors += reply.startswith(b"error:")
            assert pen.proc.poll() is None, (line, pen.errors()[-2000:])
        with socket.create_connection((pen.host, pen.port), timeout=5) as s:
            s.sendall(b"still")
            assert s.recv(5) == b"still"
        summary(lines=answered, error_replies=errors, alive=pen.proc.poll() is None)
        assert "internal error" not in pen.errors() and "Traceback" not in pen.errors()
    finally:
        pen.stop()
        be.kill()
