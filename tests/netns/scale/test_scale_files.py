"""deploy/scale's shipped files: generated, in sync, and accepted by the programs that read them.

No namespaces here (fast): the lab tests beside this file run the same generator's output.
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import scaleconf as conf

SCALE = Path(conf.__file__).resolve().parent
BIN = Path(sys.executable).parent


def test_shipped_files_match_the_generator() -> None:
    stale = [rel for rel, text in conf.shipped().items()
             if not (SCALE / rel).exists() or (SCALE / rel).read_text() != text]
    assert not stale, f"regenerate with `python3 deploy/scale/scaleconf.py --write`: {stale}"


@pytest.mark.skipif(shutil.which("bird") is None, reason="bird2 not installed")
def test_bird_accepts_the_configs() -> None:
    for conf_file in sorted((SCALE / "ecmp").glob("bird-*.conf")):
        res = subprocess.run(["bird", "-p", "-c", str(conf_file)], capture_output=True, text=True,
                             timeout=10)
        assert res.returncode == 0, f"{conf_file.name}: {res.stderr}"


def test_penvrrp_accepts_the_configs_and_every_vip_has_one_owner() -> None:
    owners: dict[str, int] = {}
    for i in range(1, conf.SHIPPED_NODES + 1):
        path = SCALE / "active-active" / f"penvrrp-node{i}.toml"
        res = subprocess.run([str(BIN / "penvrrp"), "--check", "-c", str(path)],
                             capture_output=True, text=True, timeout=30)
        assert res.returncode == 0, f"{path.name}: {res.stdout}{res.stderr}"
        assert res.stdout.count("priority 150") == 1, res.stdout
        owners[res.stdout.split("priority 150 vips ")[1].split("/")[0]] = i
    assert owners == {conf.vip(i): i for i in range(1, conf.SHIPPED_NODES + 1)}


def test_priorities_form_a_ring_for_any_node_count() -> None:
    for nodes in range(3, 10):
        for k in range(1, nodes + 1):
            prios = sorted(conf.priority(i, k, nodes) for i in range(1, nodes + 1))
            assert len(set(prios)) == nodes and prios[-1] == conf.MASTER_PRIO and prios[0] >= 1
            assert conf.priority(k % nodes + 1, k, nodes) == 100     # the next node backs up


def _hook():
    path = str(SCALE / "pen-bgp-health")
    loader = importlib.machinery.SourceFileLoader("pen_bgp_health", path)
    spec = importlib.util.spec_from_loader("pen_bgp_health", loader)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["pen_bgp_health"] = mod          # dataclasses look their module up there
    loader.exec_module(mod)
    return mod


def test_health_hook_announcer_decisions() -> None:
    ann = _hook().Announcer(reassert=2.0)
    assert ann.verb(None, 0.0) is None                    # no probe result yet: do nothing
    assert ann.verb(True, 0.0) == "enable"
    ann.done(True, 0.0)
    assert ann.verb(True, 1.0) is None
    assert ann.verb(True, 2.5) == "enable"                # re-asserted (a restarted bird)
    assert ann.verb(False, 1.0) == "disable"
    ann.done(False, 1.0)
    assert ann.verb(False, 1.5) is None


def test_health_hook_help() -> None:
    res = subprocess.run([sys.executable, str(SCALE / "pen-bgp-health"), "--help"],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 0 and "--socket" in res.stdout and "--fall" in res.stdout
