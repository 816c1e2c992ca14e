"""penlogd -u drops every privilege pen's -u drops, supplementary groups included (issue 18)."""
from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from support.procs import BIN, stop_process, wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch users")


def status_fields(pid: int) -> dict[str, str]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def test_penlogd_u_drops_supplementary_groups() -> None:
    os.setgroups([0, 4])                 # root with extra groups, as under sudo or a login
    with tempfile.TemporaryDirectory(prefix="penlogd-u-") as d:
        os.chmod(d, 0o777)               # written after the switch to nobody
        port_file = Path(d) / "port"
        proc = subprocess.Popen([str(BIN / "penlogd"), "-f", "-u", "nobody", "-l",
                                 str(Path(d) / "out.log"), "--port-file", str(port_file), "0"],
                                stderr=subprocess.PIPE)
        try:
            wait_for(lambda: port_file.exists() or proc.poll() is not None, 10, "penlogd up")
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.1)
            st = status_fields(proc.pid)
            print(f"SUMMARY penlogd -u nobody: Uid {st['Uid']} Gid {st['Gid']} "
                  f"Groups '{st['Groups']}'")
            assert st["Groups"] == ""
            assert st["Uid"].split()[0] != "0" and st["Gid"].split()[0] != "0"
        finally:
            stop_process(proc, strict=True)
            proc.stderr.close()
