"""HTML as a type of its own: `Markup` is text that is already HTML, anything else is data.

Whatever is combined with Markup (`+`, `join`, `html(template, ...)`) is escaped unless it is
Markup itself, so pen's data (server addresses, unix paths, file names, error messages)
becomes text by default and markup only by a deliberate `Markup(...)` on a literal of this
package.  The page, the charts and the message pages are Markup; app.py sends nothing else
as text/html.  (The idea of MarkupSafe, without the dependency.)
"""
from __future__ import annotations

import html as _html
from collections.abc import Iterable


class Markup(str):
    """A string that is safe HTML as it stands."""

    __slots__ = ()

    def __html__(self) -> Markup:
        return self

    def __add__(self, other: str) -> Markup:
        if not isinstance(other, str):
            return NotImplemented
        return Markup(str.__add__(self, escape(other)))

    def __radd__(self, other: str) -> Markup:
        if not isinstance(other, str):
            return NotImplemented
        return Markup(str.__add__(escape(other), self))

    def join(self, parts: Iterable[object]) -> Markup:
        return Markup(str.join(self, (escape(p) for p in parts)))

    def format(self, *args: object, **kwargs: object) -> Markup:
        return Markup(str.format(self, *(_safe(a) for a in args),
                                 **{k: _safe(v) for k, v in kwargs.items()}))


def escape(value: object) -> Markup:
    """`value` as HTML text (quotes too, for attributes); Markup passes unchanged, None is ""."""
    if isinstance(value, Markup):
        return value
    return Markup(_html.escape("" if value is None else str(value), quote=True))


def _safe(value: object) -> object:
    """A format argument: numbers stay numbers (format specs work, digits need no escaping)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return escape(value)


def html(template: str, *args: object, **kwargs: object) -> Markup:
    """`template` (a literal of this package, with `{}` fields) filled with escaped values."""
    return Markup(template).format(*args, **kwargs)


EMPTY = Markup("")
