"""Reliability suites (issue 10): shared fixtures come from tests/support/reliability.py."""
from __future__ import annotations

from support.reliability import pytest_terminal_summary, summary  # noqa: F401
