"""Start-up differences from C pen 0.34.1 that docs/compatibility.md lists, side by side, so
the table stays true (issue 20)."""
from __future__ import annotations

import subprocess

import pytest
from support.procs import C_PEN, PEN
from support.control import cmd, start_pen

pytestmark = [pytest.mark.compat,
              pytest.mark.skipif(not C_PEN.exists(), reason="Debian's pen is not installed")]


def servers(tmp_path, exe, *specs: str, opts: tuple[str, ...] = ()) -> str:
    pen, path = start_pen(tmp_path, *specs, opts=opts, exe=exe)
    try:
        return cmd(path, "servers")
    finally:
        pen.stop()


def test_o_server_lines_survive_the_command_line_servers(tmp_path) -> None:
    """C applies -o before it parses the command-line servers, which reset server 0; pen-ha
    applies the command-line servers first, so `-o "server 0 max 5"` holds (as for -F)."""
    opts = ("-o", "server 0 max 5", "-o", "server 2 address 127.0.0.1 port 11 max 6")
    theirs = servers(tmp_path, C_PEN, "127.0.0.1:9", "127.0.0.1:10", opts=opts).splitlines()
    ours = servers(tmp_path, PEN, "127.0.0.1:9", "127.0.0.1:10", opts=opts).splitlines()
    assert theirs[0].startswith("0 addr 127.0.0.1 port 9 conn 0 max 0 ")
    assert ours[0].startswith("0 addr 127.0.0.1 port 9 conn 0 max 5 ")
    assert ours[1:] == theirs[1:] and " max 6 " in ours[2]


def test_extra_server_fields(tmp_path) -> None:
    """C ignores fields after prio; pen-ha refuses the spec (exit 2), as it refuses a
    non-number in a numeric field."""
    spec = "127.0.0.1:9:1:2:3:4:5"
    assert servers(tmp_path, C_PEN, spec).startswith(
        "0 addr 127.0.0.1 port 9 conn 0 max 1 hard 2 weight 3 prio 4 ")
    r = subprocess.run([str(PEN), "-f", str(tmp_path / "lb"), spec], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 2 and "too many fields" in r.stderr


def test_missing_config_file(tmp_path) -> None:
    """C logs "Can't read config file" and serves without it; pen-ha will not start."""
    missing = str(tmp_path / "missing.cfg")
    pen, path = start_pen(tmp_path, "127.0.0.1:9", opts=("-F", missing), exe=C_PEN)
    try:
        assert cmd(path, "blacklist") == "30\n"
    finally:
        pen.stop()
    r = subprocess.run([str(PEN), "-f", "-F", missing, str(tmp_path / "lb"), "127.0.0.1:9"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 1 and f"cannot read {missing}" in r.stderr
