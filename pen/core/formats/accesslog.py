"""pen's request-log formats, built and parsed (pen(1) -l).

Pure: no I/O.  pen builds lines and datagrams with `file_line` / `net_datagram`; penlogd and
mergelogs parse them back with `parse_file_line` / `parse_datagram`, so the formats live in
one place.

Two formats, each with an optional *connection extension* that C's tools never see:

* file log (`pen -l FILE`): ``CLIENT EPOCH SERVER FIRST_LINE\\n`` as C pen writes it (control
  bytes aside, see `request_text`).
  `file_line_conn` appends ``\\tconn cport=C sport=S lport=L`` before the newline.  A TAB can
  never occur inside FIRST_LINE (`request_text` turns control bytes into '.'), so the split is
  unambiguous.
* network log (`pen -l host:port`): ``+ CLIENT SERVER FIRST_LINE\\n`` (C), followed by a second
  line ``conn cport=C sport=S lport=L time=EPOCH\\n``.  C penlogd reads the datagram with
  ``sscanf("+ %99[^ ] %99[^ ] %99[^\\n]")`` and so ignores everything after the first newline:
  our datagrams stay usable by C penlogd, while ours matches on `lport`, pen's source port
  towards the server, which is the remote port the web server logs.
"""
from __future__ import annotations

from pen.core.numbers import ascii_decimal, ascii_integer

from dataclasses import dataclass

MAX_REQUEST = 100      # pen(1) -l: FIRST_LINE is at most 100 bytes
MAX_DATAGRAM = 1024    # pen(1) -l: a network log datagram is at most 1024 bytes
CONN_TAG = "conn"


@dataclass(slots=True)
class PenEntry:
    """One logged request chunk, with everything pen knows about its connection.

    Parsed entries use 0 for what the line did not carry (C pen's formats carry no ports,
    and its datagrams no time).
    """

    client: str        # client IP text ("" for a unix-socket client)
    client_port: int
    server: str        # server IP text (or unix path)
    server_port: int
    local_port: int    # pen's own source port towards the server (0 if unknown)
    epoch: int         # wall-clock seconds
    request: str       # request_text() of the chunk


def request_text(chunk: bytes) -> str:
    """The chunk up to the first CR or LF, at most 100 bytes (pen(1) -l).  Bytes of 128 and more
    are '.', as C pen writes them; so are the control bytes below 32, which C writes as they
    are: an ESC sequence from a client would reach the terminal of whoever reads the log, a
    TAB could forge the `log_ports` field, a NUL makes grep call the log binary
    (docs/compatibility.md).  DEL (127), harmless, is kept as C keeps it."""
    end = len(chunk)
    for sep in (b"\r", b"\n"):
        i = chunk.find(sep, 0, end)
        if i != -1:
            end = i
    head = chunk[: min(end, MAX_REQUEST)]
    return "".join(chr(b) if 32 <= b < 128 else "." for b in head)


def _field(text: str) -> str:
    """An address field never empty, so the line still splits into its fields."""
    return text if text and " " not in text else "-"


def file_line(e: PenEntry) -> str:
    """`CLIENT_IP EPOCH_SECONDS SERVER_IP FIRST_LINE\\n` (pen(1) -l), C pen's line."""
    return f"{_field(e.client)} {e.epoch} {_field(e.server)} {e.request}\n"


def _conn_fields(e: PenEntry) -> str:
    return f"{CONN_TAG} cport={e.client_port} sport={e.server_port} lport={e.local_port}"


def file_line_conn(e: PenEntry) -> str:
    """`file_line` plus `\\tconn cport=.. sport=.. lport=..`: lets mergelogs match by connection.

    Not C's format (C mergelogs would see the extension as part of the request), so pen only
    writes it when asked to.
    """
    return f"{_field(e.client)} {e.epoch} {_field(e.server)} {e.request}\t{_conn_fields(e)}\n"


def net_datagram(e: PenEntry) -> bytes:
    """`+ CLIENT_IP SERVER_IP FIRST_LINE\\n` (pen(1) -l) then `conn cport sport lport time\\n`.

    At most 1024 bytes; the request is at most 100 characters, so the extension always fits.
    """
    text = (f"+ {_field(e.client)} {_field(e.server)} {e.request}\n"
            f"{_conn_fields(e)} time={e.epoch}\n")
    return text.encode("ascii", "replace")[:MAX_DATAGRAM]


def _parse_conn(text: str) -> dict[str, int] | None:
    """`conn k=v k=v ...` -> {k: int}; None when it is not a connection extension."""
    parts = text.split()
    if not parts or parts[0] != CONN_TAG:
        return None
    out: dict[str, int] = {}
    for part in parts[1:]:
        key, sep, value = part.partition("=")
        number = ascii_decimal(value) if sep else None
        if number is None:
            return None
        out[key] = number
    return out


def parse_file_line(line: str) -> PenEntry | None:
    """A pen file-log line (pen(1) -l), with or without the connection extension; None if bogus.

    Reads what C mergelogs' ``sscanf("%s %ld %s %[^\\n]")`` reads: three words (any run of
    blanks between them) and the rest of the line as the request.
    """
    line = line.rstrip("\r\n")
    conn: dict[str, int] | None = None
    tab = line.rfind("\t")
    if tab != -1:
        conn = _parse_conn(line[tab + 1:])
        if conn is not None:
            line = line[:tab]
    parts = line.split(None, 3)
    if len(parts) != 4:
        return None
    client, epoch_text, server, request = parts
    epoch = ascii_integer(epoch_text)
    if epoch is None:
        return None
    conn = conn or {}
    return PenEntry(client, conn.get("cport", 0), server, conn.get("sport", 0),
                    conn.get("lport", 0), epoch, request)


def is_pen_datagram(data: bytes) -> bool:
    """C penlogd's rule (penlogd(1)): a datagram starting with '+' comes from pen."""
    return data[:1] == b"+"


def parse_datagram(data: bytes) -> PenEntry | None:
    """A pen network-log datagram (pen(1) -l), C's or ours; None if it is not one.

    Like C penlogd, client and server are single words and the request is the rest of the
    first line; the optional second line carries ports and time.
    """
    text = data.decode("latin-1")
    first, _, rest = text.partition("\n")
    if not first.startswith("+ "):
        return None
    parts = first[2:].rstrip("\r").split(" ", 2)
    if len(parts) != 3 or not all(parts):
        return None
    client, server, request = parts
    conn = _parse_conn(rest.split("\n", 1)[0]) or {}
    return PenEntry(client, conn.get("cport", 0), server, conn.get("sport", 0),
                    conn.get("lport", 0), conn.get("time", 0), request[:MAX_REQUEST])
