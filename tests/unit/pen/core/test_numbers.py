"""pen.core.numbers: strict ASCII decimals and C's atoi."""
from __future__ import annotations

import pytest

from pen.core.numbers import ascii_decimal, c_atoi


@pytest.mark.parametrize("text,value", [
    ("0", 0), ("007", 7), ("65535", 65535), (b"42", 42), ("9" * 19, int("9" * 19)),
])
def test_ascii_decimal_accepts_plain_digits(text, value):
    assert ascii_decimal(text) == value


@pytest.mark.parametrize("text", [
    "", " 1", "1 ", "+1", "-1", "1_000", "\u00b9", "\u0663", "12\u00b9", "1.0", "0x10",
    "9" * 20, b"\xb9", "1\x00",
])
def test_ascii_decimal_refuses_everything_else(text):
    assert ascii_decimal(text) is None


def test_ascii_decimal_bound_is_the_callers():
    assert ascii_decimal("123456", max_digits=5) is None
    assert ascii_decimal("12345", max_digits=5) == 12345


@pytest.mark.parametrize("text,value", [
    ("10", 10), ("  10", 10), ("-1", -1), ("+7", 7), ("x", 0), ("", 0), ("12abc", 12),
    ("0", 0), ("\u00b9", 0), ("9" * 400, 2**63 - 1), ("-" + "9" * 400, -(2**63)),
])
def test_c_atoi(text, value):
    assert c_atoi(text) == value


def test_ascii_integer_and_fixed() -> None:
    from pen.core.numbers import ascii_fixed, ascii_integer
    assert ascii_integer("-12") == -12 and ascii_integer("+7") == 7 and ascii_integer(b"-3") == -3
    assert ascii_integer("--1") is None and ascii_integer("-") is None and ascii_integer("١") is None
    assert ascii_fixed("2.5") == 2.5 and ascii_fixed("3") == 3.0 and ascii_fixed(".5") == 0.5
    assert ascii_fixed("5.") == 5.0
    for bad in ("nan", "inf", "1e3", "-1", " 1", "1_0", "٣", ".", "", "1.2.3", "9" * 30):
        assert ascii_fixed(bad) is None, bad
