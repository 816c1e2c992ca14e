"""HTTP mode (`pen -H`): the server's side of the stream, framed only to see protocol switches.

Pure: no sockets, no clock.  The request side (`pen.core.formats.httphead`) tells this tracker what each
forwarded request was (`expect`); the data plane feeds every server->client read to `feed`,
which never changes a byte and returns an event when the response to a pending ``Upgrade`` or
``CONNECT`` arrives: `SWITCHED` (a ``101``, or a ``2xx`` to CONNECT: RFC 9110 §7.8, §9.3.6)
or `DECLINED` (any other final response).  Only after `SWITCHED` may the client's stream pass
through untouched (docs/pen.md, "HTTP mode").

Framing follows RFC 9112 §6.3: no body for responses to HEAD, for 1xx, 204 and 304;
otherwise Transfer-Encoding chunked, a Content-Length, or everything until the server closes.
Interim 1xx responses (100 Continue, 103 Early Hints) do not answer a request.  A response
that cannot be framed (not a status line, a bad length, a 101 nobody asked for, bytes with
no request outstanding) makes the tracker `LOST`: from then on it reports nothing, and a
pending switch can never be confirmed (the shell closes such a connection).
"""
from __future__ import annotations

import re
from collections import deque

from pen.core.numbers import ascii_decimal

__all__ = ["PLAIN", "HEAD", "UPGRADE", "CONNECT", "SWITCHED", "DECLINED", "LOST",
           "ResponseTracker", "refusal"]

# What a request was, for its response's framing and meaning.
PLAIN, HEAD, UPGRADE, CONNECT = range(4)
# Events returned by `feed`.
SWITCHED, DECLINED, LOST = 1, 2, 3

_STATUS_LINE = re.compile(rb"HTTP/[0-9]+\.[0-9]+ +([0-9]{3})(?:[ \t][^\r\n]*)?\r?\n")
_CHUNK_LINE = re.compile(rb"[ \t]*0*([0-9A-Fa-f]{1,15})[ \t]*(?:;[^\r]*)?\r?")
_S_STATUS, _S_BODY, _S_CHUNK_SIZE, _S_CHUNK_DATA, _S_CHUNK_END, _S_TRAILER, \
    _S_EOF, _S_PASS, _S_LOST = range(9)
_REASONS = {400: "Bad Request", 431: "Request Header Fields Too Large"}


def refusal(status: int) -> bytes:
    """The complete response pen sends for a request it will not forward, then closes."""
    reason = _REASONS.get(status, "Bad Request")
    body = f"{status} {reason}\r\n".encode("ascii")
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode("ascii") + body


def _field(low: bytes, name: bytes) -> list[bytes]:
    """Values of every `name` field (b"\\n" + lowercase name + b":") of a lowercased head."""
    values = []
    i = low.find(name)
    while i >= 0:
        e = low.find(b"\n", i + len(name))
        values.append(low[i + len(name):e if e >= 0 else len(low)].strip(b" \t\r"))
        i = low.find(name, i + len(name))
    return values


class ResponseTracker:
    """The responses of one connection, in request order; see the module docstring."""

    __slots__ = ("_kinds", "_state", "_held", "_remain", "_max")

    def __init__(self, max_head: int = 65536) -> None:
        self._kinds: deque[int] = deque()
        self._state = _S_STATUS
        self._held = b""
        self._remain = 0
        self._max = max_head

    def expect(self, kind: int) -> None:
        """A request of `kind` was forwarded: a response to it will come."""
        self._kinds.append(kind)

    def outstanding(self) -> int:
        """Requests forwarded and not yet answered (0 once lost or switched: none can be)."""
        return len(self._kinds) if self._state < _S_PASS else 0

    def done(self) -> bool:
        """Nothing more to learn: switched, lost, or a body that runs until the server closes."""
        return self._state >= _S_EOF

    def lost(self) -> bool:
        return self._state == _S_LOST

    def feed(self, data: bytes | bytearray | memoryview) -> int:
        """Consume one read from the server; 0 or the event (`SWITCHED`, `DECLINED`, `LOST`)."""
        state = self._state
        if state >= _S_EOF:
            return 0
        if state == _S_BODY and self._remain >= len(data):
            self._remain -= len(data)
            if not self._remain:
                self._state = _S_STATUS
            return 0
        if state == _S_CHUNK_DATA and self._remain > len(data):
            self._remain -= len(data)
            return 0
        buf = self._held + bytes(data) if self._held else bytes(data)
        self._held = b""
        n = len(buf)
        pos = 0
        event = 0
        while pos < n and self._state < _S_EOF:
            state = self._state
            if state == _S_BODY or state == _S_CHUNK_DATA:
                take = min(self._remain, n - pos)
                pos += take
                self._remain -= take
                if not self._remain:
                    self._state = _S_STATUS if state == _S_BODY else _S_CHUNK_END
                continue
            if state == _S_STATUS and buf[pos] in (13, 10):
                pos += 1                        # stray line ends between responses
                continue
            if state == _S_CHUNK_END:
                c = buf[pos]
                pos += 1
                if c == 10:
                    self._state = _S_CHUNK_SIZE
                elif c != 13:
                    return self._lose()
                continue
            if state == _S_STATUS:
                i = buf.find(b"\n\r\n", pos)
                j = buf.find(b"\n\n", pos, i + 1 if i >= 0 else n)
                end = j + 2 if j >= 0 else i + 3 if i >= 0 else -1
                if end < 0:
                    if n - pos > self._max:
                        return self._lose()
                    self._held = buf[pos:]
                    break
                ev = self._response(buf[pos:end])
                pos = end
                if ev:
                    event = ev
                continue
            lf = buf.find(b"\n", pos)          # chunk size line or trailer line
            if lf < 0:
                if n - pos > self._max:
                    return self._lose()
                self._held = buf[pos:]
                break
            line = buf[pos:lf]
            pos = lf + 1
            if state == _S_CHUNK_SIZE:
                m = _CHUNK_LINE.fullmatch(line)
                if m is None:
                    return self._lose()
                self._remain = int(m.group(1), 16)    # 1-15 ASCII hex digits
                self._state = _S_CHUNK_DATA if self._remain else _S_TRAILER
            elif line in (b"", b"\r"):
                self._state = _S_STATUS
        return event

    def _lose(self) -> int:
        self._state = _S_LOST
        self._held = b""
        self._kinds.clear()
        return LOST

    def _response(self, head: bytes) -> int:
        """One complete response head: its meaning, and the framing of its body."""
        m = _STATUS_LINE.match(head)
        if m is None or not self._kinds:
            return self._lose()
        code = ascii_decimal(m.group(1), 3) or 0
        kind = self._kinds[0]
        if 100 <= code < 200:
            if code != 101:
                return 0                    # interim: the final response is still to come
            if kind != UPGRADE:
                return self._lose()
            self._kinds.popleft()
            self._state = _S_PASS
            return SWITCHED
        self._kinds.popleft()
        if kind == CONNECT and 200 <= code < 300:
            self._state = _S_PASS
            return SWITCHED
        event = DECLINED if kind in (UPGRADE, CONNECT) else 0
        if kind == HEAD or code in (204, 304):
            return event
        low = b"\n" + head[m.end():].lower()
        te = _field(low, b"\ntransfer-encoding:")
        cl = _field(low, b"\ncontent-length:")
        if te:
            last = te[-1].rsplit(b",", 1)[-1].strip(b" \t")
            self._state = _S_CHUNK_SIZE if last == b"chunked" else _S_EOF
        elif cl:
            lengths = {ascii_decimal(v.lstrip(b"0") or b"0", 18) for v in cl}
            if len(lengths) != 1 or None in lengths:
                self._lose()
                return LOST
            self._remain = lengths.pop() or 0
            if self._remain:
                self._state = _S_BODY
        else:
            self._state = _S_EOF
        return event
