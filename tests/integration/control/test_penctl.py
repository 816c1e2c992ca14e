"""Our penctl against our pen: C penctl's messages and exit codes, --json, completion (docs/penctl.md)."""
from __future__ import annotations

import json
import os
import subprocess

from support.control import penctl, start_pen

from support.procs import PENCTL, dead_port, fetch_name


def test_messages_and_exit_codes() -> None:
    for args in ((), ("127.0.0.1:1",)):          # a usage error: 2 (C penctl: 0, on stdout)
        r = penctl(*args)
        assert (r.returncode, r.stdout, r.stderr) == (2, "", "usage: penctl host:port command\n")
    r = penctl("--json", f"127.0.0.1:{dead_port()}", "pid")
    assert (r.returncode, json.loads(r.stdout)) == (1, {"error": "error connecting to server"})
    assert penctl("--timeout", "soon", "127.0.0.1:1", "pid").returncode == 2
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
    # pen refuses: the reply is printed as it came, and the exit status is 1
    for line, why in ((["blacklist", "x"], "blacklist: 'x' is not a number"),
                      (["frobnicate"], "do_cmd: ignoring command starting with 'frobnicate'"),
                      (["exit"], "Exit is not enabled; restart with -X flag")):
        r = penctl(path, *line)
        assert r.returncode == 1 and why in r.stdout, (line, r)
        r = penctl("--json", path, *line)
        assert (r.returncode, json.loads(r.stdout)) == (1, {"error": why}), line
    assert penctl(path, "blacklist", "7").returncode == 0
    r = penctl(path, "x" * 2000)
    assert (r.returncode, r.stderr) == (1, "Overlong argument list\n")
    pen.stop()


def test_completion_of_command_names() -> None:
    env = dict(os.environ, _PENCTL_COMPLETE="bash_complete", COMP_WORDS="penctl /x.sock ser",
               COMP_CWORD="2")
    r = subprocess.run([str(PENCTL)], env=env, capture_output=True, text=True, timeout=10)
    words = {line.split(",", 1)[1] for line in r.stdout.splitlines() if "," in line}
    assert {"server", "servers"} <= words and "mode" not in words
