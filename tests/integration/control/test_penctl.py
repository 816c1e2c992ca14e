"""Our penctl against our pen: C penctl's messages and exit codes, --json, completion (§3.2)."""
from __future__ import annotations

import json
import os
import subprocess

from helpers_control import PENCTL, penctl, start_pen

from support.procs import dead_port, fetch_name


def test_messages_and_exit_codes() -> None:
    for args in ((), ("127.0.0.1:1",)):
        r = penctl(*args)
        assert (r.returncode, r.stdout) == (0, "usage: penctl host:port command\n")
    r = penctl("127.0.0.1", "pid")
    assert (r.returncode, r.stderr) == (1, "no port given\n")
    r = penctl(f"127.0.0.1:{dead_port()}", "pid")
    assert (r.returncode, r.stderr) == (1, "error connecting to server\n")
    r = penctl("/nonexistent/ctl.sock", "pid")
    assert (r.returncode, r.stderr) == (1, "error connecting to server\n")
    r = penctl("--help")
    assert r.returncode == 0 and "servers" in r.stdout and "ssl_option" in r.stdout


def test_commands_and_json(tmp_path, backends) -> None:
    a, b = backends("name", "a", "b")
    pen, path = start_pen(tmp_path, a.addr, b.addr, opts=["-w", str(tmp_path / "ws.html")])
    assert penctl(path, "pid").stdout == f"{pen.proc.pid}\n"
    assert penctl(path, "server", "-1", "port", "5").returncode == 0     # '-1' is no option
    assert penctl(path, "tarpit_acl").stdout == "tarpit_acl = -1"
    assert penctl(path, "server", "1", "max", "3").stdout == ""
    assert fetch_name(pen) in ("a", "b")
    servers = json.loads(penctl("--json", path, "servers").stdout)
    assert [s["port"] for s in servers] == [a.port, b.port] and servers[1]["max"] == 3
    assert json.loads(penctl("--json", path, "mode").stdout)["hash"] is False
    recent = json.loads(penctl("--json", path, "recent").stdout)
    assert recent[0]["address"] == "127.0.0.1" and recent[0]["connects"] == 1
    status = json.loads(penctl("--json", path, "status").stdout)
    assert status["clients_max"] == 2048 and len(status["servers"]) == 2
    assert json.loads(penctl("--json", path, "pid").stdout) == {"reply": f"{pen.proc.pid}\n"}
    r = penctl(path, "x" * 2000)
    assert r.returncode == 1 and "too long" in r.stderr
    pen.stop()


def test_completion_of_command_names() -> None:
    env = dict(os.environ, _PENCTL_COMPLETE="bash_complete", COMP_WORDS="penctl /x.sock ser",
               COMP_CWORD="2")
    r = subprocess.run([str(PENCTL)], env=env, capture_output=True, text=True, timeout=10)
    words = {line.split(",", 1)[1] for line in r.stdout.splitlines() if "," in line}
    assert {"server", "servers"} <= words and "mode" not in words
