"""Fixtures shared by every test folder (support code lives in tests/support/)."""
from __future__ import annotations

import fcntl
import os
import subprocess
from pathlib import Path

import pytest

from support.procs import Backend, Pen

# the reliability suites' one-line figures, printed at the end of every run (issue 10)
from support.reliability import pytest_terminal_summary  # noqa: F401,E402


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked root/netns skip cleanly where we are not root."""
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root")
    for item in items:
        if "root" in item.keywords or "netns" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(params=[1, 2], ids=["1proc", "2workers"])
def each_worker_count(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Modules that use this (pytestmark) run every test with one pen process and with
    `--workers 2` (support.procs.Pen reads PEN_TEST_WORKERS)."""
    monkeypatch.setenv("PEN_TEST_WORKERS", str(request.param))
    return request.param


ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def compiled_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """scripts/compile.sh's tree (the hot path compiled by mypyc), built once per test run:
    the first xdist worker builds it under a lock, the others wait for it."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base   # this run's
    out = shared / "compiled-tree"
    with open(shared / "compiled-tree.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "SOURCE").exists():
            r = subprocess.run(["bash", str(ROOT / "scripts" / "compile.sh"), str(out)],
                               capture_output=True, text=True, timeout=900)
            assert r.returncode == 0, f"scripts/compile.sh failed:\n{r.stdout}{r.stderr}"
    return out


@pytest.fixture(params=["pure", "compiled"])
def each_build(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Modules that use this run every test with the pure-Python pen and with the hot path
    compiled by scripts/compile.sh (support.procs.Pen reads PEN_TEST_TREE)."""
    if request.param == "compiled":
        monkeypatch.setenv("PEN_TEST_TREE", str(request.getfixturevalue("compiled_tree")))
    else:
        monkeypatch.delenv("PEN_TEST_TREE", raising=False)
    return request.param


@pytest.fixture
def backends(request: pytest.FixtureRequest):
    """Factory: backends('name', 'a', 'b') starts name-mode backends a and b; all stopped after."""
    started: list[Backend] = []

    def start(mode: str, *names: str, extra: tuple[str, ...] = ()) -> list[Backend]:
        out = [Backend(mode, n, *extra) for n in names]
        started.extend(out)
        return out

    yield start
    for b in started:
        b.stop()


@pytest.fixture
def pen_factory():
    """Factory: pen_factory(*servers, opts=[...]) starts our pen; stopped after the test."""
    started: list[Pen] = []

    def start(*servers: str, **kw) -> Pen:
        p = Pen(*servers, **kw)
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()
