"""HTTP mode (`pen -H`): X-Forwarded-For / X-Forwarded-Proto on every request of a stream.

Pure: no sockets, no clock.  The data plane feeds every client->server read to one
`RequestRewriter` per connection and sends what `feed` returns; the first lines it reports
are the requests that begin in that read, for the access log (one line per request, not per
read chunk as C pen does, pen(1) -l; docs/compatibility.md).  The server's responses go to the
rewriter's `responses` (a `pen.core.formats.httpresp.ResponseTracker`), which says when the server
switched protocols.

The guarantee (docs/pen.md, "HTTP mode"): every request that a common HTTP/1.x server (nginx,
Apache, Node's llhttp, Python's http.server) would parse out of the stream reaches it with pen's
view of the client as the last X-Forwarded-For value.  Where pen cannot frame the bytes the
way every such server would, `rejected()` gives 400 (431 for an oversized head) and nothing
more of the stream is forwarded: an HTTP stream never falls back to passing through.

What C pen 0.34.1 does (pen(1) -H) and what we do instead, on purpose:

* C rewrites only a read chunk that starts with GET/POST/HEAD and holds the whole head, so
  keep-alive requests split across reads, pipelined requests and PUT/DELETE/... get nothing
  (docs/compatibility.md; C pen's issue #42).  We follow HTTP/1.x framing (RFC 9112 §6:
  Content-Length, chunked
  transfer coding) across reads, so every request of the stream is found, for any method
  (any RFC 9110 §5.6.2 token), wherever the reads split it.
* C keeps a client-supplied X-Forwarded-For as is (spoofable).  We append ``, <client ip>`` to
  the last X-Forwarded-For field, so the rightmost entry is always pen's view of the client,
  and we remove every client-supplied X-Forwarded-Proto and send pen's own.
* With neither header in a CRLF request, the head is byte-identical to C pen's: the two lines
  ``X-Forwarded-Proto: <proto>`` then ``X-Forwarded-For: <ip>`` inserted just before the blank
  line.  They end as the head's last line ends; in a bare-LF head that is LF, where C writes
  CRLF inside the LF head (docs/compatibility.md).

Rules of the state machine:

* Request position: empty lines (CR/LF) before a request are forwarded and skipped (RFC 9112
  §2.2).  A request line is ``token SP+ target SP+ HTTP/1.minor SP*`` (nginx's laxness:
  repeated and trailing spaces, any method length, leading zeros in the version), or with
  ``HTTP/2.0``, which llhttp frames like 1.1.
* Not HTTP: only the connection's very first bytes may be another protocol.  A first byte
  outside printable ASCII (TLS, binary protocols) is decided at once; otherwise the first
  line is judged when its LF arrives (so a line-based client that sends one line and waits is
  never held back): it is HTTP if any common server would take it for a request line (a
  target starting with ``/`` or ``*`` or ``scheme:``, or ``HTTP/`` in it), else the stream
  passes through untouched.  HTTP/2's ``PRI * HTTP/2.0`` preface passes through.  Any other
  HTTP-looking line we cannot frame (HTTP/0.9, HTTP/3.0, bad spacing) is a 400, and so is
  anything at a later request position that is not a request line.
* An incomplete head is held (never more than `max_head` bytes; more is a 431).  Head end: an
  empty line, i.e. ``\\n\\n`` or ``\\n\\r\\n`` (so ``\\r\\n\\r\\n`` and C pen's bare-LF ``\\n\\n``).
  A bare CR in a head (Python's parser takes it for a line end), obs-fold (nginx and Python
  disagree on it) and white space before the colon of a framing or forwarding field are 400s.
* Framing: Transfer-Encoding whose only/final coding is ``chunked`` -> chunked body (size
  lines with any number of leading zeros, extensions up to the line end, data, CRLF, last
  chunk, trailers, blank line; bare LF accepted); otherwise Content-Length (``5``, ``005``,
  ``5, 5``) -> that many bytes; neither -> no body.  Ambiguous framing (invalid or conflicting
  Content-Length, Transfer-Encoding together with Content-Length, a final coding other than
  chunked, chunked twice, Transfer-Encoding on HTTP/1.0, a malformed chunk line, a chunk
  line or trailer section over `max_head`) -> 400 before the request is forwarded.
* ``Upgrade:`` (any value) or method CONNECT: the request is forwarded and what the client
  sends after it is held (up to `max_head`; the shell stops reading beyond that) until the
  response tracker decides: a 101 (or a 2xx to CONNECT) -> passthrough, anything else ->
  framing resumes on the held bytes (`resolve`).
* Body and chunk framing bytes are forwarded as they arrive, never held; only heads are.

Return values: `feed` returns ``bytes``; in passthrough, and for a read that is all body,
it is the very object passed in (so a bytearray or memoryview comes back as such; anything
`socket.send` accepts).  With ``rewrite=False`` (access log without -H) nothing is ever held,
changed or refused: `feed` always returns its input, only the first lines are reported, and
what would be a 400 or a pending switch becomes passthrough.
"""
from __future__ import annotations

import re

from pen.core.formats.httpresp import CONNECT, HEAD, PLAIN, UPGRADE, ResponseTracker
from pen.core.numbers import ascii_decimal

__all__ = ["RequestRewriter"]

_TCHAR = rb"!#$%&'*+\-.^_`|~0-9A-Za-z"          # RFC 9110 §5.6.2 tchar
# HTTP/2.0 in a request line: llhttp (Node) frames it as 1.1 (nginx and Python answer 505)
_REQUEST_LINE = re.compile(rb"[" + _TCHAR + rb"]+ +[^\x00-\x20\x7f]+ +HTTP/(?:0*1\.([0-9]+)|2\.0) *\r?\n")
# A line some common server would take for a request line (target or version), see the docstring.
_HTTP_LIKE = re.compile(rb"[\x21-\x7e]+[ \t]+(?:[/*]|[A-Za-z][A-Za-z0-9+.\-]*:|[^\n]*HTTP/)")
_H2_PREFACE = b"PRI * HTTP/2.0\r\n"
_CHUNK_LINE = re.compile(rb"[ \t]*0*([0-9A-Fa-f]{1,15})[ \t]*(?:;[^\r]*)?\r?")
# A field that needs more than the common path (which only inserts pen's two lines).
_SPECIAL = re.compile(rb"\n(?:x-forwarded-|content-length|transfer-encoding|upgrade)", re.IGNORECASE)
# white space before the colon of a field whose meaning we rely on (RFC 9112 §5.1: a 400)
_BAD_NAME = re.compile(rb"\n(?:x-forwarded-for|x-forwarded-proto|content-length|transfer-encoding"
                       rb"|upgrade)[ \t]+:")
_UNSAFE = re.compile(rb"[\x00-\x20,\x7f-\xff]")   # may not go into a header value we write
_OWS = (9, 13, 32)
_CL_DIGITS = 18                  # Content-Length values past 10**18 - 1 are refused

_HEAD, _BODY, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILER, _PASS, _WAIT, _REJECT = range(9)

_Field = tuple[int, int, int]    # (index of the LF before the name, index of ':', index of final LF)


def _fields(low: bytes | bytearray, name: bytes) -> list[_Field]:
    """Every field `name` (b"\\n" + lowercase name) of a lowercased header block.

    The block starts and ends with LF.  (White space before the colon of the names we look
    up was refused before, see `_BAD_NAME`; obs-fold too.)
    """
    found: list[_Field] = []
    size = len(name)
    i = low.find(name)
    while i >= 0:
        k = i + size
        if low[k] == 58:  # ':'
            found.append((i, k, low.find(b"\n", k)))
        i = low.find(name, k)
    return found


def _values(low: bytes | bytearray, fields: list[_Field]) -> list[bytes]:
    """The comma-separated list elements of `fields`, stripped, empty ones kept."""
    return [bytes(part.strip(b" \t\r\n")) for _, k, e in fields for part in low[k + 1:e].split(b",")]


def _clean_head(buf: bytes | bytearray, start: int, end: int) -> bool:
    """No bare CR (Python's header parser ends a line there, nginx and llhttp refuse it) and
    no obs-fold (Apache unfolds it, nginx ignores the line: RFC 9112 §5.2 allows a 400)."""
    return (buf.count(b"\r", start, end) == buf.count(b"\r\n", start, end)
            and buf.find(b"\n ", start, end) < 0 and buf.find(b"\n\t", start, end) < 0)


class RequestRewriter:
    """One client->server stream in HTTP mode; see the module docstring for the rules."""

    __slots__ = ("_rewrite", "_max", "_state", "_held", "_scan", "_lf", "_remain", "_line",
                 "_cr", "_both", "_proto_only", "_ip", "_tail", "_http", "_after", "_status",
                 "responses")

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
        self._http = False       # a request was framed: from now on nothing passes through
        self._after = _HEAD      # state once this request's body ends (_WAIT after a switch)
        self._status = 0         # 400 or 431 once rejected
        self._ip = ip
        # Index True: CRLF heads, False: bare-LF heads.
        self._both = {eol == b"\r\n": b"X-Forwarded-Proto: " + tag + eol + b"X-Forwarded-For: " + ip + eol
                      for eol in (b"\r\n", b"\n")}
        self._tail = self._both[True] + b"\r\n"
        self._proto_only = {eol == b"\r\n": b"X-Forwarded-Proto: " + tag + eol for eol in (b"\r\n", b"\n")}
        # what the server is expected to answer, in order (only rewriting needs it)
        self.responses: ResponseTracker | None = ResponseTracker() if rewrite else None

    def passthrough(self) -> bool:
        """True once the stream is not (or no longer) HTTP/1.x: `feed` then returns its input."""
        return self._state == _PASS

    def rejected(self) -> int:
        """0, or the status (400, 431) to answer with: nothing more is forwarded."""
        return self._status

    def waiting(self) -> bool:
        """A protocol switch is pending: client bytes are held until `resolve`."""
        return self._state == _WAIT

    def full(self) -> bool:
        """Held bytes reached `max_head` while waiting: stop reading the client for now."""
        held = self._held
        return self._state == _WAIT and held is not None and len(held) >= self._max

    def pending(self) -> int:
        """Bytes of an incomplete head held back and not yet returned."""
        held = self._held
        return len(held) if held is not None and self._rewrite else 0

    def undecided(self) -> int:
        """Bytes of a request whose request line is not complete yet (held in either mode):
        the access log has not seen them (C pen logs a read as it comes, pen(1) -l)."""
        held = self._held
        return len(held) if held is not None and self._state == _HEAD and self._lf < 0 else 0

    def flush(self) -> bytes:
        """On client EOF: the held bytes, unchanged, if the stream may still be another
        protocol (a first line without its line end).  Once the stream is HTTP, an incomplete
        head is dropped: no server may be left to complete it its own way (a bare CR ends a
        line for Python's parser).  While a switch is pending they stay held for `resolve`."""
        if self._state == _WAIT:
            return b""
        held = self._held
        if self._http or self._lf >= 0:
            held = None
        self._held = None
        self._lf = -1
        self._scan = 0
        if held is None or not self._rewrite or self._state in (_WAIT, _REJECT):
            return b""
        return bytes(held)

    def resolve(self, switched: bool) -> tuple[bytes, list[bytes]]:
        """The server answered the pending Upgrade/CONNECT: with `switched`, the stream is the
        new protocol from here on; else framing goes on.  Returns what `feed` would."""
        if self._state != _WAIT:
            return b"", []
        held = bytes(self._held) if self._held is not None else b""
        self._held = None
        if switched:
            self._state = _PASS
            return held, []
        self._state = self._after = _HEAD
        return self.feed(held) if held else (b"", [])

    def _to_passthrough(self) -> None:
        self._state = _PASS
        self._held = None
        self._line = bytearray()

    def _fail(self, status: int) -> None:
        """Bytes we cannot frame: a 400/431 with -H, passthrough when only logging."""
        if self._rewrite:
            self._state = _REJECT
            self._status = status
            self._held = None
            self._line = bytearray()
        else:
            self._to_passthrough()

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
                self._state = self._after
            return data, []
        if state == _CHUNK_DATA and self._remain > len(data):
            self._remain -= len(data)
            return data, []
        if not data or state == _REJECT:
            return b"" if state == _REJECT else data, []
        if state == _WAIT:
            held = self._held
            self._held = held + data if held is not None else bytearray(data)
            return b"", []
        if (state == _HEAD and self._held is None and type(data) is bytes
                and data.endswith(b"\r\n\r\n") and len(data) <= self._max):
            # Common case: exactly one CRLF head, nothing else, in one read.
            lf = data.find(b"\n")
            end = len(data) - 3
            if (data.find(b"\n\r\n", lf) == end and data.find(b"\n\n", lf) < 0
                    and _REQUEST_LINE.match(data, 0, lf + 1) is not None
                    and _SPECIAL.search(data, lf) is None and not data.startswith(b"CONNECT ")
                    and not data.startswith(_H2_PREFACE)
                    and _clean_head(data, 0, len(data))):
                self._http = True
                if self.responses is not None:
                    self.responses.expect(HEAD if data.startswith(b"HEAD ") else PLAIN)
                request_line = data[:lf - 1 if data[lf - 1] == 13 else lf]
                return (data[:-2] + self._tail if self._rewrite else data), [request_line]
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
                        avail = n - pos
                        if not 0x21 <= c <= 0x7e:
                            if self._http:
                                self._fail(400)
                                hold = pos
                            else:
                                self._to_passthrough()
                            break
                        if avail >= maxh:
                            if self._http or _HTTP_LIKE.match(buf, pos, pos + maxh):
                                self._fail(431)
                                hold = pos
                            else:
                                self._to_passthrough()
                            break
                        self._scan = avail
                        hold = pos
                        break
                    m = None if buf.startswith(_H2_PREFACE, pos) else _REQUEST_LINE.match(buf, pos, lf + 1)
                    if m is None:
                        if self._http or (_HTTP_LIKE.match(buf, pos, lf + 1)
                                          and not buf.startswith(_H2_PREFACE, pos)):
                            self._fail(400)
                            hold = pos
                        else:
                            self._to_passthrough()
                        break
                    self._http = True
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
                        self._fail(431)
                        hold = pos
                        break
                    self._lf = lf - pos
                    self._scan = max(n - pos - 2, lf - pos)
                    hold = pos
                    break
                self._lf = -1
                self._scan = 0
                if not _clean_head(buf, start, end):
                    self._fail(400)
                    hold = start
                    break
                pos = end
                if _SPECIAL.search(buf, lf, term + 1) is None and not buf.startswith(b"CONNECT ", start):
                    if self.responses is not None:
                        self.responses.expect(HEAD if buf.startswith(b"HEAD ", start) else PLAIN)
                    if rewrite:
                        out.append(buf[mark:term + 1])
                        out.append(self._both[buf[term - 1] == 13])
                        mark = term + 1
                    continue
                low = buf[lf:term + 1].lower()
                if not self._frame(buf, start, lf, low):
                    hold = start
                    break
                if rewrite:
                    for a, b, insert in self._edits(buf, lf, term, low):
                        out.append(buf[mark:a])
                        out.append(insert)
                        mark = b
                if self._state == _PASS:
                    break
            elif state == _BODY:
                left = n - pos
                if self._remain <= left:
                    pos += self._remain
                    self._remain = 0
                    self._state = self._after
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
                    self._fail(400)
                    hold = pos
                    break
            elif state == _WAIT:
                hold = pos
                break
            else:  # _CHUNK_SIZE or _TRAILER: a line, forwarded as it comes, parsed from a copy
                i = buf.find(b"\n", pos)
                if i < 0:
                    self._line += buf[pos:]
                    pos = n
                    if len(self._line) > maxh:
                        self._fail(400 if state == _CHUNK_SIZE else 431)
                    break
                if self._line:
                    self._line += buf[pos:i]
                    line: bytes | bytearray = self._line
                    self._line = bytearray()
                else:
                    line = buf[pos:i]
                if state == _CHUNK_SIZE:
                    m = _CHUNK_LINE.fullmatch(line) if len(line) <= maxh else None
                    if m is None:
                        self._fail(400)
                        hold = pos
                        break
                    pos = i + 1
                    size = int(m.group(1), 16)     # 1-15 ASCII hex digits: always converts
                    if size:
                        self._remain = size
                        self._state = _CHUNK_DATA
                    else:
                        self._remain = 0
                        self._state = _TRAILER
                elif len(line) == 0 or (len(line) == 1 and line[0] == 13):
                    pos = i + 1
                    self._state = self._after
                else:
                    self._remain += len(line) + 1
                    if self._remain > maxh or line.find(b"\r", 0, len(line) - 1) >= 0:
                        self._fail(431 if self._remain > maxh else 400)
                        hold = pos
                        break
                    pos = i + 1
        if self._state == _REJECT:
            self._held = None
        elif hold < n:
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
        """Set the state for what follows a complete head; False when it is refused (400)
        or, when only logging, passes through."""
        if _BAD_NAME.search(low) is not None:
            self._fail(400)                  # white space before a colon
            return False
        connect = buf.startswith(b"CONNECT ", start)
        kind = CONNECT if connect else UPGRADE if _fields(low, b"\nupgrade") else (
            HEAD if buf.startswith(b"HEAD ", start) else PLAIN)
        te = _fields(low, b"\ntransfer-encoding")
        cl = _fields(low, b"\ncontent-length")
        if te:
            codings = [c for c in _values(low, te) if c]
            m = _REQUEST_LINE.match(buf, start, lf + 1)
            if (cl or not codings or codings[-1] != b"chunked" or codings.count(b"chunked") != 1
                    or m is None or (m.group(1) is not None and ascii_decimal(m.group(1)) == 0)):
                self._fail(400)                                     # ^ HTTP/1.0: RFC 9112 §6.1
                return False
            self._state = _CHUNK_SIZE
            self._line = bytearray()
        elif cl:
            lengths = {ascii_decimal(v.lstrip(b"0") or b"0", _CL_DIGITS) if v else None
                       for v in _values(low, cl)}
            if len(lengths) != 1 or None in lengths:
                self._fail(400)
                return False
            self._remain = lengths.pop() or 0
            self._state = _BODY if self._remain else _HEAD
        else:
            self._state = _HEAD
        if kind in (CONNECT, UPGRADE):
            if not self._rewrite:
                self._state = _PASS      # only logging: nothing to protect, nothing to hold
            else:
                self._after = _WAIT
                if self._state == _HEAD:
                    self._state = _WAIT
        if self.responses is not None:
            self.responses.expect(kind)
        return True
