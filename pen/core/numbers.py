"""Decimal numbers from untrusted text: the one place every parser turns digits into an int.

Why a module of its own: `str.isdigit()` is true for `'¹'` and `'٣'`, `int()` accepts
`' 12'`, `'1_000'` and Arabic-Indic digits, and refuses strings over 4,300 digits with a
`ValueError` nobody expects.  Each of these has crashed or fooled one of our parsers, so no
parser calls `int()` on input directly: it calls `ascii_decimal` (strict) or `c_atoi` (C's
lenient `atoi(3)`, where C pen's command line takes any text).
"""
from __future__ import annotations

ASCII_DIGITS = frozenset(b"0123456789")
MAX_DIGITS = 19          # enough for any 64-bit value; longer is refused, never converted


def ascii_decimal(text: str | bytes, max_digits: int = MAX_DIGITS) -> int | None:
    """The value of `text` if it is 1 to `max_digits` ASCII digits and nothing else, else None.

    No sign, no spaces, no underscores, no other scripts' digits: what an HTTP, log or
    control-protocol field means by a number."""
    if isinstance(text, str):
        if not text.isascii():
            return None
        raw = text.encode("ascii")
    else:
        raw = bytes(text)
    if not 0 < len(raw) <= max_digits or not ASCII_DIGITS.issuperset(raw):
        return None
    return int(raw)


def worker_count(text: str, ceiling: int) -> int | None:
    """`--workers N|auto` and `workers N|auto`: 1 to `ceiling`, or 0 for `auto` (one per core,
    resolved when the workers start); None when it is neither."""
    if text.strip().lower() == "auto":
        return 0
    n = ascii_decimal(text.strip(), 3)
    return n if n is not None and 1 <= n <= ceiling else None


def c_atoi(text: str) -> int:
    """C `atoi(3)` as glibc does it for values that fit: leading white space, an optional sign,
    the longest run of ASCII digits; 0 when there are none.  Values past 64 bits saturate
    instead of wrapping (glibc's strtol clamps the same way)."""
    i, n = 0, len(text)
    while i < n and text[i] in " \t\n\v\f\r":
        i += 1
    sign = 1
    if i < n and text[i] in "+-":
        sign = -1 if text[i] == "-" else 1
        i += 1
    start = i
    while i < n and "0" <= text[i] <= "9":
        i += 1
    digits = text[start:i].lstrip("0")
    if not digits:
        return 0
    if len(digits) > MAX_DIGITS:
        return 2**63 - 1 if sign > 0 else -(2**63)
    return max(-(2**63), min(2**63 - 1, sign * int(digits)))


def ascii_integer(text: str | bytes, max_digits: int = MAX_DIGITS) -> int | None:
    """`ascii_decimal` with an optional leading ``+`` or ``-`` (a log's epoch, a command's
    signed argument); None for anything else."""
    if text[:1] in ("-", "+", b"-", b"+"):
        value = ascii_decimal(text[1:], max_digits)
        if value is None:
            return None
        return -value if text[:1] in ("-", b"-") else value
    return ascii_decimal(text, max_digits)


def ascii_fixed(text: str, max_digits: int = MAX_DIGITS) -> float | None:
    """A non-negative decimal like ``2``, ``2.5`` or ``0.25`` in ASCII digits (at most
    `max_digits` on each side of the point), else None.  Unlike `float()`: no ``nan``,
    ``inf``, exponents, signs, spaces, underscores or other scripts' digits."""
    whole, point, frac = text.partition(".")
    if not whole and not frac:
        return None
    if (whole and ascii_decimal(whole, max_digits) is None) or \
            (point and frac and ascii_decimal(frac, max_digits) is None):
        return None
    return float(f"{whole or '0'}.{frac or '0'}")
