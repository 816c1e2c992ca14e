"""Web servers' access-log lines: Common and Combined Log Format, optional vhost prefix,
optional pen-ha connection trailer (penlogd(1); mergelogs(1); docs/penlogd.md).

Pure: no I/O.  Shared by penlogd and mergelogs so the format is parsed in one place.

Accepted shapes (the part after the request is kept verbatim, so Common, Combined and
anything longer all work):

    [VHOST ]HOST IDENT USER [DD/Mon/YYYY:HH:MM:SS +ZZZZ] "REQUEST" STATUS BYTES ...[ rport=P][ sport=S]

* A vhost prefix is recognised by its field count: four words before the ``[`` (Apache's
  ``%v %h %l %u`` / vhost_combined ``%v:%p %h %l %u``) instead of three.
* The *connection trailer*, ``rport=P`` (the remote port the web server saw: nginx
  ``$remote_port``, Apache ``%{remote}p``) and ``sport=S`` (the server's own port: nginx
  ``$server_port``, Apache ``%{local}p``), is what lets penlogd match a line to pen's entry
  for the same connection.  It is removed from the merged output.
* A syslog header (nginx ``access_log syslog:server=...``) is removed by `strip_syslog`.
"""
from __future__ import annotations

from pen.core.numbers import ascii_decimal

import calendar
import functools
import re
from dataclasses import dataclass

MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
# re.ASCII: \d is [0-9] (a str pattern's \d also takes other scripts' digits)
_TIME = re.compile(r"(\d{1,2})/([A-Z][a-z]{2})/(\d{4}):(\d{2}):(\d{2}):(\d{2})(?: ([+-])(\d{2})(\d{2}))?$",
                   re.ASCII)
_SYSLOG = re.compile(r"<\d{1,3}>(?:1 )?[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d (?:\S+ )?[^\s:]+: ", re.ASCII)
TRAILER_KEYS = ("rport", "sport")


@dataclass(slots=True)
class WebLine:
    """One parsed access-log line; spans index into `text` so rendering keeps it byte for byte."""

    text: str              # the line without its line end
    vhost: str | None      # the vhost prefix field, if the line has one
    host_start: int        # span of the client (%h) field, the one pen-ha replaces
    host_end: int
    time_text: str         # between the brackets
    epoch: int             # that time as UTC seconds, its offset applied
    request: str           # between the first pair of quotes (escapes kept as logged)
    body_end: int          # where the connection trailer starts (len(text) without one)
    rport: int | None = None
    sport: int | None = None

    @property
    def host(self) -> str:
        return self.text[self.host_start:self.host_end]


@functools.lru_cache(maxsize=1024)
def parse_clf_time(text: str) -> int | None:
    """`22/Nov/2026:02:43:06 +0100` -> UTC epoch seconds; None if it is not such a time.

    Cached: consecutive lines mostly share their second.  The offset is applied exactly (C mergelogs runs it through mktime with an uninitialised
    tm_isdst, mergelogs(1), and may land one hour off).  A missing offset means UTC.
    """
    m = _TIME.match(text)
    result: int | None = None
    if m is not None and m.group(2) in MONTHS:
        d, mon, y, hh, mi, ss, sign, oh, om = m.groups()
        try:
            t = calendar.timegm((int(y), MONTHS[mon], int(d), int(hh), int(mi), int(ss)))
        except (ValueError, OverflowError):
            t = None
        if t is not None and 1 <= int(d) <= 31 and int(hh) < 24 and int(mi) < 60 and int(ss) < 61:
            if sign:
                off = int(oh) * 3600 + int(om) * 60
                t = t - off if sign == "+" else t + off
            result = t
    return result


def strip_syslog(line: str) -> str:
    """The message of an RFC 3164 syslog line (`<190>Nov 22 02:43:06 host nginx: MSG`), else the line."""
    if line.startswith("<"):
        m = _SYSLOG.match(line)
        if m is not None:
            return line[m.end():]
    return line


def _closing_quote(text: str, q1: int) -> int:
    """Index of the quote closing the one at q1, honouring Apache's backslash escapes; -1 if none."""
    m = _QUOTED.match(text, q1)
    if m is not None:
        return m.end() - 1
    return text.find('"', q1 + 1)


def parse_web_line(line: str) -> WebLine | None:
    """Parse a CLF/Combined line (optionally vhost-prefixed, optionally with the trailer).

    None when the line is not one: the caller passes it through unchanged and counts it.
    """
    text = line.rstrip("\r\n")
    lb = text.find(" [")
    if lb <= 0:
        return None
    rb = text.find("]", lb + 2)
    if rb == -1:
        return None
    q1 = text.find('"', rb)
    if q1 == -1:
        return None
    q2 = _closing_quote(text, q1)
    if q2 == -1:
        return None
    epoch = parse_clf_time(text[lb + 2:rb])
    if epoch is None:
        return None
    words = text[:lb].split(" ")
    if len(words) == 4 and words[0]:
        vhost: str | None = words[0]
        host_start = len(words[0]) + 1
    else:
        vhost, host_start = None, 0
    host_end = text.find(" ", host_start)
    if host_end <= host_start:
        return None
    w = WebLine(text, vhost, host_start, host_end, text[lb + 2:rb], epoch,
                text[q1 + 1:q2], len(text))
    _take_trailer(w, q2 + 1)
    return w


def _take_trailer(w: WebLine, floor: int) -> None:
    """Peel `rport=N` / `sport=N` words off the end of the line (after the request)."""
    text, end = w.text, len(w.text)
    while True:
        sp = text.rfind(" ", floor, end)
        if sp == -1:
            break
        key, sep, value = text[sp + 1:end].partition("=")
        port = ascii_decimal(value, 5) if sep and key in TRAILER_KEYS else None
        if port is None or port > 65535:
            break
        if key == "rport" and w.rport is None:
            w.rport = port
        elif key == "sport" and w.sport is None:
            w.sport = port
        else:
            break
        end = sp
    w.body_end = end


def render(w: WebLine, client: str | None = None) -> str:
    """The line with its client field replaced (when given) and the trailer removed, no newline."""
    host = w.text[w.host_start:w.host_end] if client is None else client
    return w.text[:w.host_start] + host + w.text[w.host_end:w.body_end]
