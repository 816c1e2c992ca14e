"""penvrrp command line: --check, --help, status rendering, notify arguments (no sockets)."""

from __future__ import annotations

import json
import os
import subprocess
import time
import re
from pathlib import Path

from click.testing import CliRunner

from penvrrp.cli import main
from penvrrp.core import config
from penvrrp.core.fsm import Fsm, State
from penvrrp.core.status import instance_doc, render
from penvrrp.core.tracking import TrackState
from penvrrp.runtime.notify import commands

DOCS = Path(__file__).resolve().parents[3] / "docs" / "penvrrp.md"


def test_check_command_line_instance() -> None:
    r = CliRunner().invoke(main, ["--check", "-i", "eth0", "--vrid", "51", "-p", "150", "--vip", "192.0.2.100/24",
                                  "--advert-int", "0.2", "--track-pen", "127.0.0.1:10000", "--track-weight", "-60"])
    assert r.exit_code == 0, r.output
    assert "VI_51: eth0 vrid 51 v3 priority 150 vips 192.0.2.100/24" in r.output
    assert "configuration OK: 1 instance(s)" in r.output


def test_check_reports_errors_and_exits_non_zero(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["--check", "-i", "eth0", "--vrid", "51", "--vip", "192.0.2.100",
                                  "--vrrp-version", "2", "--advert-int", "0.5"])
    assert r.exit_code == 1 and "whole seconds" in r.output
    r = CliRunner().invoke(main, ["--check"])
    assert r.exit_code == 1 and "nothing to run" in r.output
    bad = tmp_path / "bad.toml"
    bad.write_text("[[instance]]\ninterface = 'eth0'\nvrid = 1\nvips = ['192.0.2.1']\npriorty = 5\n")
    r = CliRunner().invoke(main, ["--check", "-c", str(bad)])
    assert r.exit_code == 1 and "unknown key 'priorty'" in r.output


def test_check_file_with_overrides(tmp_path: Path) -> None:
    f = tmp_path / "p.toml"
    f.write_text("[[instance]]\nname='A'\ninterface='eth0'\nvrid=1\nvips=['192.0.2.1']\n"
                 "[[instance]]\nname='B'\ninterface='eth0'\nvrid=2\nvips=['192.0.2.2']\n")
    r = CliRunner().invoke(main, ["--check", "-c", str(f), "-p", "90"])
    assert r.exit_code == 0 and r.output.count("priority 90") == 2


def test_help_lists_every_option_and_docs_match() -> None:
    out = CliRunner().invoke(main, ["--help"]).output
    for opt in ["-f,", "-c,", "-i,", "--vrid", "-p,", "--vip", "--advert-int", "--vrrp-version", "--nopreempt",
                "--preempt-delay", "--unicast-src", "--unicast-peer", "--auth-pass", "--track-pen",
                "--track-interface", "--track-script", "--notify", "--state-file", "--check"]:
        assert opt in out, opt
    documented = set(re.findall(r"`(--[a-z-]+)", DOCS.read_text()))
    offered = set(re.findall(r"(--[a-z][a-z-]+)", out)) - {"--help"}
    assert offered <= documented, f"undocumented options: {sorted(offered - documented)}"


def test_status_renders_state_file(tmp_path: Path) -> None:
    cfg = config.instance_from_dict({"interface": "eth0", "vrid": 51, "vips": ["192.0.2.100/24"], "priority": 150})
    fsm = Fsm(cfg, "192.0.2.1")
    fsm.start(0.0)
    fsm.tick(10.0)
    fsm.counters["checksum_errors"] = 3
    track = TrackState("pen:127.0.0.1:10000", -60, ok=True, detail="pen pid 42")
    doc = {"pid": os.getpid(), "written": time.time(), "instances": [instance_doc(fsm, [track], 1000.0, 10.0)]}
    p = tmp_path / "state.json"
    p.write_text(json.dumps(doc))
    r = CliRunner().invoke(main, ["status", "--state-file", str(p)])
    assert r.exit_code == 0, r.output
    assert "VI_51: MASTER on eth0 vrid 51 v3 priority 150 (configured 150)" in r.output
    assert "track pen:127.0.0.1:10000 weight -60: ok pen pid 42" in r.output
    assert "checksum_errors=3" in r.output and "become_master=1" in r.output
    assert render(doc) in r.output
    r = CliRunner().invoke(main, ["status", "--state-file", str(tmp_path / "none.json")])
    assert r.exit_code == 1 and "is penvrrp running?" in r.output


def test_status_says_stale_when_the_agent_is_gone_or_frozen(tmp_path: Path) -> None:
    cfg = config.instance_from_dict({"interface": "eth0", "vrid": 51, "vips": ["192.0.2.100/24"],
                                     "advert_int": 0.5})
    fsm = Fsm(cfg, "192.0.2.1")
    fsm.start(0.0)
    p = tmp_path / "state.json"
    dead = subprocess.Popen(["true"])
    dead.wait()
    cases = [({"pid": dead.pid, "written": time.time()}, "is not running"),
             ({"pid": os.getpid(), "written": time.time() - 1.6}, "more than 3 advert intervals (1.5 s)")]
    for head, why in cases:
        p.write_text(json.dumps({**head, "instances": [instance_doc(fsm, [], 1000.0, 1.0)]}))
        r = CliRunner().invoke(main, ["status", "--state-file", str(p)])
        assert r.exit_code == 3 and r.output.startswith("stale: ") and why in r.output, r.output
        r = CliRunner().invoke(main, ["status", "--json", "--state-file", str(p)])
        assert r.exit_code == 3 and why in json.loads(r.output)["stale"]
    p.write_text(json.dumps({"pid": os.getpid(), "written": time.time() - 1.0,
                             "instances": [instance_doc(fsm, [], 1000.0, 1.0)]}))
    assert CliRunner().invoke(main, ["status", "--state-file", str(p)]).exit_code == 0


def test_notify_arguments_are_keepalived_s() -> None:
    cfg = config.instance_from_dict({"interface": "eth0", "vrid": 51, "vips": ["192.0.2.100"],
                                     "notify": "/bin/n --flag", "notify_master": "/bin/m"})
    assert commands(cfg, State.MASTER, 150) == [["/bin/m"], ["/bin/n", "--flag", "INSTANCE", "VI_51", "MASTER", "150"]]
    assert commands(cfg, State.FAULT, 90) == [["/bin/n", "--flag", "INSTANCE", "VI_51", "FAULT", "90"]]
