"""Fuzzing suites (issue 10): shared fixtures come from tests/helpers_reliability.py."""
from __future__ import annotations

from helpers_reliability import pytest_terminal_summary, summary  # noqa: F401
