"""Which client reads become access-log lines (pen(1) -l).

Pure.  HTTP streams get one line per request (the request line, from `RequestRewriter`);
other streams get one line per read, as C pen 0.34.1 logs them.  The reads that came before
the stream was known not to be HTTP (a first line without its line ending yet, held by the
rewriter while undecided) are logged when that becomes known, or at the client's EOF: C
logs `printf partial; sleep 1; printf ' rest\\n'` as two lines, and a lone `PING` without a
newline as one, and so do we.
"""
from __future__ import annotations

__all__ = ["ReadLog"]


class ReadLog:
    """The access-log texts of one TCP connection's client reads."""

    __slots__ = ("_waiting",)

    def __init__(self) -> None:
        self._waiting: list[bytes] = []     # reads not logged yet: their request is undecided

    def after_read(self, chunk: bytes, lines: list[bytes], passthrough: bool,
                   undecided: int) -> list[bytes]:
        """Texts to log for one read, given what the rewriter made of it: its first `lines`,
        whether the stream is now `passthrough`, and the `undecided` bytes it still holds."""
        if lines:
            texts = lines
            self._waiting = []
        elif passthrough:
            texts = self._waiting + [chunk] if self._waiting else [chunk]
            self._waiting = []
            return texts
        else:
            texts = []
        if undecided:
            # the undecided bytes are the tail of this read (and all of any later read)
            self._waiting.append(chunk if self._waiting or undecided >= len(chunk)
                                 else chunk[len(chunk) - undecided:])
        return texts

    def at_eof(self) -> list[bytes]:
        """The client closed: what it sent and nobody logged (a request never completed)."""
        texts, self._waiting = self._waiting, []
        return texts
