"""The extras split, proven in a fresh virtualenv: a wheel built from this tree, installed by
deploy/install.sh without the vrrp extra, runs every program with click alone; penvrrp says
which extra it lacks; the man pages and units land where the installer puts them."""
from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PROGRAMS = ("pen", "penctl", "penlogd", "penlog", "mergelogs", "webstats", "penvrrp")
pytestmark = pytest.mark.slow


def run(*argv: object, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                          timeout=timeout, **kw)


def test_extras_are_declared() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert [d.split(">")[0] for d in project["dependencies"]] == ["click"]
    assert sorted(project["optional-dependencies"]["vrrp"]) == ["pyroute2>=0.9.1", "scapy>=2.5"]
    assert "pen-ha[vrrp]" in project["optional-dependencies"]["test"]


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory) -> Path:
    """pen-ha's wheel (built from a copy of the tree, so nothing is written into it) and
    click's, the only dependency."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".venv", ".git", "__pycache__", "build", "*.egg-info", ".pytest_cache", ".hypothesis",
        "artifacts", "out"))
    house = tmp / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    built = run(*pip, "wheel", "-q", "--no-deps", "-w", house, src)
    if built.returncode != 0 and "Could not find a version" in built.stderr:
        pytest.skip(f"no package index for the build backend: {built.stderr[-300:]}")
    assert built.returncode == 0, built.stderr
    click = run(*pip, "download", "-q", "--no-deps", "--only-binary", ":all:", "-d", house,
                f"click=={metadata.version('click')}")
    if click.returncode != 0:
        pytest.skip(f"cannot fetch click's wheel: {click.stderr[-300:]}")
    return house


def test_fresh_venv_without_the_vrrp_extra(wheelhouse: Path, tmp_path: Path) -> None:
    prefix, units, man = tmp_path / "opt", tmp_path / "units", tmp_path / "man1"
    env = {"PATH": "/usr/bin:/bin", "PREFIX": str(prefix), "UNITDIR": str(units),
           "MANDIR": str(man)}
    r = run(ROOT / "deploy" / "install.sh", "--no-index", "--find-links", wheelhouse, "pen-ha",
            env=env)
    assert r.returncode == 0, r.stderr
    assert "7 man pages" in r.stdout, r.stdout
    python = prefix / "bin" / "python"
    installed = run(python, "-m", "pip", "list", "--format=freeze").stdout
    names = sorted(line.split("==")[0].lower() for line in installed.split())
    assert "scapy" not in names and "pyroute2" not in names and "click" in names, names
    version = metadata.version("pen-ha")
    for program in PROGRAMS:
        out = run(prefix / "bin" / program, "--version", timeout=60)
        assert out.returncode == 0 and out.stdout.startswith(f"{program} (pen-ha) {version}"), \
            (program, out.stderr)
    # every module but penvrrp's runtime imports with click alone
    modules = ("pen.engine.daemon", "pen.engine.balancer", "penctl.cli", "penlogd.daemon",
               "penlogd.penlog", "mergelogs.cli", "webstats.app", "webstats.cgi",
               "penvrrp.cli", "penvrrp.core.config", "penvrrp.core.status")
    imports = run(python, "-c", "import importlib, sys\nfor m in sys.argv[1:]: "
                  "importlib.import_module(m)", *modules, timeout=60)
    assert imports.returncode == 0, imports.stderr
    # pen balances and penctl controls it, from the fresh venv
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(20)
    pen = subprocess.Popen([str(prefix / "bin" / "pen"), "-f", "-C", str(tmp_path / "ctl"),
                            str(tmp_path / "listen"), "127.0.0.1:9"],
                           env={"PATH": "/usr/bin:/bin", "NOTIFY_SOCKET": str(tmp_path / "notify")},
                           stderr=subprocess.PIPE, text=True)
    try:
        assert b"READY=1" in notify.recv(4096)
        pid = run(prefix / "bin" / "penctl", tmp_path / "ctl", "pid", timeout=30)
        assert (pid.returncode, pid.stdout.strip()) == (0, str(pen.pid)), pid.stderr
    finally:
        notify.close()
        pen.terminate()
        assert pen.wait(20) == 0, pen.stderr.read() if pen.stderr else ""
    # penvrrp checks a configuration without scapy and pyroute2, and names the extra to run
    check = run(prefix / "bin" / "penvrrp", "--check", "-i", "eth0", "--vrid", "51", "--vip",
                "192.0.2.100/24", timeout=60)
    assert check.returncode == 0 and "configuration OK" in check.stdout, check.stderr
    start = run(prefix / "bin" / "penvrrp", "-f", "-i", "pen-ha-no-such0", "--vrid", "51",
                "--vip", "192.0.2.100/24", timeout=60)
    assert start.returncode == 1, start
    assert "pip install 'pen-ha[vrrp]'" in start.stderr and "scapy" in start.stderr, start.stderr
    # the installer's other half: units and man pages
    assert {p.name for p in units.iterdir()} >= {"pen.service", "pen.socket",
                                                 "pen-control.socket", "penlogd.service",
                                                 "penvrrp.service"}
    pages = sorted(p.name for p in man.iterdir())
    assert pages == sorted(f"{p}.1" for p in PROGRAMS)
    if shutil.which("man"):
        page = run("man", "-l", "-P", "cat", man / "penctl.1", env={"MANWIDTH": "80",
                                                                    "PATH": "/usr/bin:/bin"})
        assert page.returncode == 0 and re.search(r"p.?e.?n.?c.?t.?l", page.stdout)
