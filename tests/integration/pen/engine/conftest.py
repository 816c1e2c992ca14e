"""Every balancer and socket a test here made is closed after it (support.engine.after_test)."""
from __future__ import annotations

from typing import Iterator

import pytest

from support.engine import close_all


@pytest.fixture(autouse=True)
def _closed_after() -> Iterator[None]:
    yield
    close_all()
