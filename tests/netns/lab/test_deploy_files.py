"""deploy/'s static files are valid for the tools that will read them: systemd-analyze verify
for the units, logrotate for its file, penvrrp --check for both nodes' configurations."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
DEPLOY = REPO / "deploy"
BIN = Path(sys.executable).parent


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="verify.sh mounts the venv in a private mount namespace")
@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze missing (apt: systemd)")
def test_units_pass_systemd_analyze_verify() -> None:
    res = subprocess.run([str(DEPLOY / "systemd" / "verify.sh"), str(BIN.parent)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "all units OK" in res.stdout


def test_penvrrp_unit_has_exactly_raw_and_admin_capabilities() -> None:
    unit = (DEPLOY / "systemd" / "penvrrp.service").read_text().splitlines()
    caps = {line.split("=", 1)[0]: set(line.split("=", 1)[1].split()) for line in unit
            if line.startswith(("AmbientCapabilities=", "CapabilityBoundingSet="))}
    assert caps == {"AmbientCapabilities": {"CAP_NET_RAW", "CAP_NET_ADMIN"},
                    "CapabilityBoundingSet": {"CAP_NET_RAW", "CAP_NET_ADMIN"}}


@pytest.mark.skipif(shutil.which("logrotate") is None, reason="logrotate missing (apt: logrotate)")
def test_logrotate_config_parses(tmp_path: Path) -> None:
    conf = DEPLOY / "ha-example" / "balancer" / "etc" / "logrotate.d" / "pen-ha"
    res = subprocess.run(["logrotate", "-d", "-s", str(tmp_path / "state"), str(conf)],
                         capture_output=True, text=True, timeout=30)
    out = res.stdout + res.stderr
    assert res.returncode == 0 and "error" not in out.lower(), out
    assert "/var/log/penlogd/access.log" in out and "systemctl reload penlogd" in conf.read_text()


@pytest.mark.parametrize("node,priority", [("lb1", 150), ("lb2", 100)])
def test_penvrrp_example_configs_check(node: str, priority: int) -> None:
    toml = DEPLOY / "ha-example" / node / "etc" / "pen-ha" / "penvrrp.toml"
    res = subprocess.run([str(BIN / "penvrrp"), "--check", "-c", str(toml)],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"VI_51: eth0 vrid 51 v3 priority {priority} vips 192.0.2.100/24" in res.stdout


def test_notify_script_is_valid_sh() -> None:
    script = DEPLOY / "ha-example" / "balancer" / "etc" / "pen-ha" / "notify.sh"
    assert os.access(script, os.X_OK)
    assert subprocess.run(["sh", "-n", str(script)], timeout=10).returncode == 0
