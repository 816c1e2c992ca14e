"""Fixtures shared by every test folder (support code lives in tests/support/)."""
from __future__ import annotations

import os

import pytest

from support.procs import Backend, Pen

# the reliability suites' one-line figures, printed at the end of every run (issue 10)
from helpers_reliability import pytest_terminal_summary  # noqa: F401,E402


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked root/netns skip cleanly where we are not root."""
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root")
    for item in items:
        if "root" in item.keywords or "netns" in item.keywords:
            item.add_marker(skip)


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
