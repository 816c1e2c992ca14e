"""Daemonized C pen 0.34.1 and pen-ha side by side: the working directory (issue 20).

Debian's C pen forks and calls setsid without chdir, so it keeps the directory it was started
in and a relative `penctl write FILE` lands there.  pen-ha does the same; its confinement
(docs/security.md) allows the directory of the -F file, which is that directory here.
"""
from __future__ import annotations

import os
import signal
import subprocess

import pytest
from support.control import cmd, penctl, wait_control

from support.procs import C_PEN, C_PENCTL, PEN, wait_for

pytestmark = [pytest.mark.compat,
              pytest.mark.skipif(not C_PEN.exists(), reason="Debian's pen is not installed")]


def _daemon(exe, where) -> int:
    """Start `exe` daemonized in `where` with relative paths; its pid."""
    where.mkdir()
    (where / "pen.cfg").write_text("blacklist 17\n")
    extra = ["-u", "root"] if exe == C_PEN else []
    r = subprocess.run([str(exe), *extra, "-C", str(where / "ctl"), "-p", "pen.pid", "-F",
                        "pen.cfg", str(where / "lb"), "127.0.0.1:9"], cwd=where,
                       capture_output=True, timeout=20)
    assert r.returncode == 0, r.stderr
    pid_file = where / "pen.pid"
    wait_for(lambda: pid_file.exists() and pid_file.read_text(), 10, what="pid file")
    wait_control(str(where / "ctl"))
    return int(pid_file.read_text())


@pytest.mark.parametrize("exe", [C_PEN, PEN], ids=["C", "pen-ha"])
def test_daemon_keeps_its_start_directory(tmp_path, exe) -> None:
    where = tmp_path / "start"
    pid = _daemon(exe, where)
    try:
        assert os.readlink(f"/proc/{pid}/cwd") == str(where)
        assert cmd(str(where / "ctl"), "blacklist") == "17\n"
        r = penctl(str(where / "ctl"), "write", "rt.cfg", exe=C_PENCTL)
        assert (r.returncode, r.stdout) == (0, "")
        assert "blacklist 17" in (where / "rt.cfg").read_text()
    finally:
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 10, what="pen gone")
