"""Numbers for people: bytes, rates, durations.  Anything that is not a number is shown as
text (and escaped by the caller), so a hostile or half-filled snapshot never breaks the page."""
from __future__ import annotations

UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def _float(value: object) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    return None


def size(value: object) -> str:
    v = _float(value)
    if v is None:
        return "" if value is None else str(value)
    for unit in UNITS:
        if abs(v) < 1024 or unit == UNITS[-1]:
            return f"{v:.0f} {unit}" if unit == "B" else f"{v:.1f} {unit}"
        v /= 1024
    return str(value)


def rate(value: object) -> str:
    text = size(value)
    return f"{text}/s" if _float(value) is not None else text


def count(value: object) -> str:
    v = _float(value)
    if v is None:
        return "" if value is None else str(value)
    return f"{int(v):,}".replace(",", "\u202f") if v == int(v) else f"{v:.1f}"


def short_duration(seconds: object) -> str:
    v = _float(seconds)
    if v is None:
        return "" if seconds is None else str(seconds)
    if v < 10:
        return f"{round(v, 1):g} s"
    if v < 60:
        return f"{v:.0f} s"
    if v < 3600:
        return f"{v / 60:.0f} min"
    return f"{v / 3600:.1f} h"


def uptime(seconds: object) -> str:
    v = _float(seconds)
    if v is None:
        return "" if seconds is None else str(seconds)
    total = int(v)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h {minutes}m"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"
