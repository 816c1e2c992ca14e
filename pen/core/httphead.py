"""HTTP mode (`pen -H`): X-Forwarded-For / X-Forwarded-Proto on every request of a stream.

Pure: no sockets, no clock.  The data plane feeds every client->server read to one
`RequestRewriter` per connection and sends what `feed` returns; the first lines it reports
are the requests that begin in that read, for the access log (one line per request, not per
read chunk as C pen does, spec/pen-0.34.md §5.1 and §10.5).

What C pen 0.34.1 does (spec §1.8) and what we do instead, on purpose:

* C rewrites only a read chunk that starts with GET/POST/HEAD and holds the whole head, so
  keep-alive requests split across reads, pipelined requests and PUT/DELETE/... get nothing
  (§10.5, issue #42).  We follow HTTP/1.x framing (RFC 9112 §6: Content-Length, chunked
  transfer coding) across reads, so every request of the stream is found, for any method
  (any RFC 9110 §5.6.2 token), wherever the reads split it.
* C keeps a client-supplied X-Forwarded-For as is (spoofable).  We append ``, <client ip>`` to
  the last X-Forwarded-For field, so the rightmost entry is always pen's view of the client,
  and we remove every client-supplied X-Forwarded-Proto and send pen's own.
* With neither header in the request, the head is byte-identical to C pen's: the two lines
  ``X-Forwarded-Proto: <proto>`` then ``X-Forwarded-For: <ip>`` inserted just before the blank
  line, with the line ending the head's last line uses (CRLF, or LF for bare-LF heads).

Rules of the state machine:

* Request position: empty lines (CR/LF) before a request are forwarded and skipped (RFC 9112
  §2.2).  A request line is ``token SP target SP HTTP/1.x``.  If the bytes seen so far cannot
  start one (no token char first, a non-token char before the first SP, or no SP within 32
  bytes), or the complete first line is not one (e.g. HTTP/2's ``PRI * HTTP/2.0`` preface, a
  text protocol), the stream switches to *passthrough* and everything held is returned
  unchanged.  The first line is judged as soon as its LF arrives, so a non-HTTP client that
  sends one line and waits is never held back.
* An incomplete head is held (never more than `max_head` bytes); a head longer than that
  switches to passthrough with the held bytes returned unchanged.  Head end: an empty line,
  i.e. ``\\n\\n`` or ``\\n\\r\\n`` (so ``\\r\\n\\r\\n`` and C pen's bare-LF ``\\n\\n``).
* Framing: Transfer-Encoding whose only/final coding is ``chunked`` -> chunked body (size
  lines with extensions, data, CRLF, last chunk, trailers, blank line; bare LF accepted);
  otherwise one valid Content-Length (``5`` or ``5, 5``) -> that many bytes; neither -> no body.
  Ambiguous framing (invalid or conflicting Content-Length, Transfer-Encoding together with
  Content-Length, a final coding other than chunked, chunked twice, Transfer-Encoding on
  HTTP/1.0, a malformed chunk line) -> this head is still rewritten, then passthrough: we
  no longer know where the next request starts.
* ``Upgrade:`` (any value) or method CONNECT -> passthrough after this head (the connection
  may switch protocols).
* Body and chunk framing bytes are forwarded as they arrive, never held; only heads are.

Caveat (for the XFF guarantee): once in passthrough, later requests on the connection are
not rewritten.  A client can reach that state with a request the backend answers without
switching protocols (an ``Upgrade:`` the backend ignores, or framing the backend accepts
but we find ambiguous) and then send requests carrying only its own X-Forwarded-For.
Closing that hole needs the server's response (101 or not), which this module does not see.

Return values: `feed` returns ``bytes``; in passthrough, and for a read that is all body,
it is the very object passed in (so a bytearray or memoryview comes back as such; anything
`socket.send` accepts).  With ``rewrite=False`` nothing is ever held or changed: `feed`
always returns its input, and only the first lines are reported.
"""
from __future__ import annotations

import re

__all__ = ["RequestRewriter"]

_TCHAR = rb"!#$%&'*+\-.^_`|~0-9A-Za-z"          # RFC 9110 §5.6.2 tchar
_TOKEN = re.compile(rb"[" + _TCHAR + rb"]*")
_REQUEST_LINE = re.compile(rb"[" + _TCHAR + rb"]{1,31} [^\x00-\x20\x7f]+ HTTP/1\.[0-9]\r?\n")
_CHUNK_LINE = re.compile(rb"[ \t]*([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\x00-\x08\x0a-\x1f\x7f]*)?\r?")
# A field that needs more than the common path (which only inserts pen's two lines).
_SPECIAL = re.compile(rb"\n(?:x-forwarded-|content-length|transfer-encoding|upgrade)", re.IGNORECASE)
_METHOD_MAX = 32                 # "no SP within 32 bytes" -> not HTTP
_UNSAFE = re.compile(rb"[\x00-\x20,\x7f-\xff]")   # may not go into a header value we write
_OWS = (9, 13, 32)

_HEAD, _BODY, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILER, _PASS = range(7)

_Field = tuple[int, int, int]    # (index of the LF before the name, index of ':', index of final LF)


def _fields(low: bytes | bytearray, name: bytes) -> list[_Field]:
    """Every field `name` (b"\\n" + lowercase name) of a lowercased header block.

    The block starts and ends with LF.  Whitespace before the colon is tolerated (RFC 9112 §5.1
    makes it a 400; matching it anyway means we never frame differently from a lax backend).
    The field's end includes obs-fold continuation lines.
    """
    found: list[_Field] = []
    size = len(name)
    last = len(low) - 1
    i = low.find(name)
    while i >= 0:
        k = i + size
        while low[k] == 32 or low[k] == 9:
            k += 1
        if low[k] == 58:  # ':'
            e = low.find(b"\n", k)
            while e < last and (low[e + 1] == 32 or low[e + 1] == 9):
                e = low.find(b"\n", e + 1)
            found.append((i, k, e))
        i = low.find(name, k)
    return found


def _values(low: bytes | bytearray, fields: list[_Field]) -> list[bytes]:
    """The comma-separated list elements of `fields`, stripped, empty ones kept."""
    return [bytes(part.strip(b" \t\r\n")) for _, k, e in fields for part in low[k + 1:e].split(b",")]


class RequestRewriter:
    """One client->server stream in HTTP mode; see the module docstring for the rules."""

    __slots__ = ("_rewrite", "_max", "_state", "_held", "_scan", "_lf", "_remain", "_line",
                 "_cr", "_both", "_proto_only", "_ip", "_tail")

    def __init__(self, client_ip: str, proto: str = "http", rewrite: bool = True,
                 max_head: int = 65536) -> None:
        ip = client_ip.encode("ascii")       # UnicodeEncodeError is a ValueError
        tag = proto.encode("ascii")
        for what, value in (("client_ip", ip), ("proto", tag)):
            if not value or _UNSAFE.search(value):
                raise ValueError(f"{what} {value!r} cannot be sent in an HTTP header")
        if max_head < 64:
            raise ValueError(f"max_head {max_head} is too small for any request head")
        self._rewrite = rewrite
        self._max = max_head
        self._state = _HEAD
        self._held: bytearray | None = None   # incomplete head, from its first byte
        self._scan = 0           # offset in the held head already searched
        self._lf = -1            # offset of the held head's request-line LF, -1: not yet seen
        self._remain = 0         # body / chunk bytes still to forward; trailer bytes seen
        self._line = bytearray()  # partial chunk-size or trailer line (a copy, for parsing)
        self._cr = False         # CR after chunk data seen
        self._ip = ip
        # Index True: CRLF heads, False: bare-LF heads.
        self._both = {eol == b"\r\n": b"X-Forwarded-Proto: " + tag + eol + b"X-Forwarded-For: " + ip + eol
                      for eol in (b"\r\n", b"\n")}
        self._tail = self._both[True] + b"\r\n"
        self._proto_only = {eol == b"\r\n": b"X-Forwarded-Proto: " + tag + eol for eol in (b"\r\n", b"\n")}

    def passthrough(self) -> bool:
        """True once the stream is not (or no longer) HTTP/1.x: `feed` then returns its input."""
        return self._state == _PASS

    def pending(self) -> int:
        """Bytes of an incomplete head held back and not yet returned."""
        held = self._held
        return len(held) if held is not None and self._rewrite else 0

    def flush(self) -> bytes:
        """On client EOF: the held bytes, unchanged (the request will never be complete)."""
        held = self._held
        self._held = None
        self._lf = -1
        self._scan = 0
        if held is None or not self._rewrite:
            return b""
        return bytes(held)

    def _to_passthrough(self) -> None:
        self._state = _PASS
        self._held = None
        self._line = bytearray()

    def feed(self, data: bytes) -> tuple[bytes, list[bytes]]:
        """Consume one read from the client.

        Returns (bytes to send to the server now, first lines (no CR/LF) of the requests whose
        request line completed in this read).  A request is reported once, in the read that
        brings its request line's LF.
        """
        state = self._state
        if state == _PASS:
            return data, []
        if state == _BODY and self._remain >= len(data):
            self._remain -= len(data)
            if not self._remain:
                self._state = _HEAD
            return data, []
        if state == _CHUNK_DATA and self._remain > len(data):
            self._remain -= len(data)
            return data, []
        if not data:
            return data, []
        if (state == _HEAD and self._held is None and type(data) is bytes
                and data.endswith(b"\r\n\r\n") and len(data) <= self._max):
            # Common case: exactly one CRLF head, nothing else, in one read.
            lf = data.find(b"\n")
            end = len(data) - 3
            if (data.find(b"\n\r\n", lf) == end and data.find(b"\n\n", lf) < 0
                    and _REQUEST_LINE.match(data, 0, lf + 1) is not None
                    and _SPECIAL.search(data, lf) is None and not data.startswith(b"CONNECT ")):
                line = [data[:lf - 1 if data[lf - 1] == 13 else lf]]
                return (data[:-2] + self._tail if self._rewrite else data), line
        orig = data
        if type(data) is not bytes:
            data = bytes(data)
        held = self._held
        if held is not None:
            held += data
            buf: bytes | bytearray = held
        else:
            buf = data
        rewrite = self._rewrite
        maxh = self._max
        n = len(buf)
        pos = 0
        mark = 0          # start of the input not yet copied to `out`
        hold = n          # end of what is forwarded now; buf[hold:] is held back
        out: list[bytes | bytearray] = []
        lines: list[bytes] = []
        while pos < n:
            state = self._state
            if state == _HEAD:
                start = pos
                lf = self._lf
                if lf < 0:
                    c = buf[pos]
                    if c == 13 or c == 10:
                        pos += 1
                        continue
                    lf = buf.find(b"\n", pos + self._scan, pos + maxh)
                    if lf < 0:
                        t = _TOKEN.match(buf, pos, pos + _METHOD_MAX).end() - pos
                        avail = n - pos
                        if (t == 0 or t == _METHOD_MAX or (t < avail and buf[pos + t] != 32)
                                or avail >= maxh):
                            self._to_passthrough()
                            break
                        self._scan = avail
                        hold = pos
                        break
                    if _REQUEST_LINE.match(buf, pos, lf + 1) is None:
                        self._to_passthrough()
                        break
                    lines.append(bytes(buf[pos:lf - 1 if buf[lf - 1] == 13 else lf]))
                    scan = lf
                else:
                    lf += pos
                    scan = max(lf, pos + self._scan)
                limit = pos + maxh
                i = buf.find(b"\n\r\n", scan, limit)
                j = buf.find(b"\n\n", scan, i + 1 if i >= 0 else limit)
                if j >= 0:
                    term, end = j, j + 2
                elif i >= 0:
                    term, end = i, i + 3
                else:
                    if n - pos >= maxh:
                        self._to_passthrough()
                        break
                    self._lf = lf - pos
                    self._scan = max(n - pos - 2, lf - pos)
                    hold = pos
                    break
                self._lf = -1
                self._scan = 0
                pos = end
                if _SPECIAL.search(buf, lf, term + 1) is None and not buf.startswith(b"CONNECT ", start):
                    if rewrite:
                        out.append(buf[mark:term + 1])
                        out.append(self._both[buf[term - 1] == 13])
                        mark = term + 1
                    continue
                low = buf[lf:term + 1].lower()
                edits = self._edits(buf, lf, term, low) if rewrite else ()
                for a, b, insert in edits:
                    out.append(buf[mark:a])
                    out.append(insert)
                    mark = b
                if not self._frame(buf, start, lf, low):
                    break
            elif state == _BODY:
                left = n - pos
                if self._remain <= left:
                    pos += self._remain
                    self._remain = 0
                    self._state = _HEAD
                else:
                    self._remain -= left
                    pos = n
            elif state == _CHUNK_DATA:
                left = n - pos
                if self._remain <= left:
                    pos += self._remain
                    self._remain = 0
                    self._cr = False
                    self._state = _CHUNK_END
                else:
                    self._remain -= left
                    pos = n
            elif state == _CHUNK_END:
                c = buf[pos]
                if c == 10:
                    pos += 1
                    self._state = _CHUNK_SIZE
                elif c == 13 and not self._cr:
                    pos += 1
                    self._cr = True
                else:
                    self._to_passthrough()
                    break
            else:  # _CHUNK_SIZE or _TRAILER: a line, forwarded as it comes, parsed from a copy
                i = buf.find(b"\n", pos)
                if i < 0:
                    self._line += buf[pos:]
                    pos = n
                    if len(self._line) > maxh:
                        self._to_passthrough()
                    break
                if self._line:
                    self._line += buf[pos:i]
                    line: bytes | bytearray = self._line
                    self._line = bytearray()
                else:
                    line = buf[pos:i]
                pos = i + 1
                if state == _CHUNK_SIZE:
                    m = _CHUNK_LINE.fullmatch(line) if len(line) <= maxh else None
                    if m is None:
                        self._to_passthrough()
                        break
                    size = int(m.group(1), 16)
                    if size:
                        self._remain = size
                        self._state = _CHUNK_DATA
                    else:
                        self._remain = 0
                        self._state = _TRAILER
                elif len(line) == 0 or (len(line) == 1 and line[0] == 13):
                    self._state = _HEAD
                else:
                    self._remain += len(line) + 1
                    if self._remain > maxh:
                        self._to_passthrough()
                        break
        if hold < n:
            self._held = buf if (hold == 0 and buf is held) else bytearray(buf[hold:])
        else:
            self._held = None
        if not rewrite:
            return orig, lines
        if not out:
            if mark == 0 and hold == n:
                return (orig if buf is data else bytes(buf)), lines
            return bytes(buf[mark:hold]), lines
        out.append(buf[mark:hold])
        return b"".join(out), lines

    def _edits(self, buf: bytes | bytearray, lf: int, term: int,
               low: bytes | bytearray) -> list[tuple[int, int, bytes]]:
        """(start, end, insert) replacements in `buf` that put pen's headers into a head.

        `low` is the lowercased header block buf[lf:term + 1] (from the request line's LF to
        the last field's LF).
        """
        crlf = buf[term - 1] == 13
        edits = [(lf + i + 1, lf + e + 1, b"") for i, _, e in _fields(low, b"\nx-forwarded-proto")]
        xff = _fields(low, b"\nx-forwarded-for")
        if xff:
            _, k, e = xff[-1]
            colon = lf + k
            v = lf + e
            while v > colon + 1 and buf[v - 1] in _OWS:
                v -= 1
            edits.append((v, v, (b", " if v > colon + 1 else b" ") + self._ip))
            edits.append((term + 1, term + 1, self._proto_only[crlf]))
        else:
            edits.append((term + 1, term + 1, self._both[crlf]))
        edits.sort()
        return edits

    def _frame(self, buf: bytes | bytearray, start: int, lf: int, low: bytes | bytearray) -> bool:
        """Set the state for what follows a complete head; False when that is passthrough."""
        if buf.startswith(b"CONNECT ", start) or _fields(low, b"\nupgrade"):
            self._state = _PASS
            return False
        te = _fields(low, b"\ntransfer-encoding")
        cl = _fields(low, b"\ncontent-length")
        if te:
            codings = [c for c in _values(low, te) if c]
            v = lf - 1 if buf[lf - 1] == 13 else lf
            if (cl or not codings or codings[-1] != b"chunked" or codings.count(b"chunked") != 1
                    or buf[v - 1] == 48):   # HTTP/1.0 (RFC 9112 §6.1)
                self._state = _PASS
                return False
            self._state = _CHUNK_SIZE
            self._line = bytearray()
            return True
        if cl:
            lengths = set(_values(low, cl))
            if len(lengths) != 1:
                self._state = _PASS
                return False
            value = lengths.pop()
            if not value.isdigit() or len(value) > 18:
                self._state = _PASS
                return False
            self._remain = int(value)
            self._state = _BODY if self._remain else _HEAD
            return True
        self._state = _HEAD
        return True
