"""penlogd and mergelogs as processes on the datagrams and lines that killed them (issue 18):
each bad one is counted and skipped, and the next good one is still processed."""
from __future__ import annotations

import subprocess
from pathlib import Path

from support.procs import BIN, stop_process, wait_for
from support.logs import lines_of, send, start_penlogd

WEB = '127.0.0.1 - - [22/Nov/2026:10:00:0{n} +0000] "GET /{n} HTTP/1.1" 200 5'

HOSTILE_DATAGRAMS = [
    b"+ 1.2.3.4 127.0.0.1 GET / HTTP/1.1\nconn cport=\xb9\n",
    b"+ 1.2.3.4 127.0.0.1 GET / HTTP/1.1\nconn rport=" + b"9" * 65_000 + b"\n",
    b"+ 1.2.3.4 127.0.0.1 GET / HTTP/1.1\nconn cport=" + b"9" * 10_000 + b"\n",
    b"+ 1.2.3.4 127.0.0.1 GET / HTTP/1.1\nconn time=" + "١٢".encode() + b"\n",
    b'127.0.0.1 - - [22/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5 rport=\xb9\n',
    b'127.0.0.1 - - [22/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5 rport=' + b"9" * 65_000,
    b"+ \x00 \x00\n", b"+ \xff\xfe \xc3\x28 \xed\xa0\x80\n", b"\x00" * 1000,
]


def test_penlogd_survives_hostile_datagrams(tmp_path: Path) -> None:
    proc, port, out = start_penlogd(tmp_path, "--hold", "0")
    try:
        for i, data in enumerate(HOSTILE_DATAGRAMS):
            send(port, data)
            send(port, (WEB.format(n=i % 10) + "\n").encode())      # still served after each
        wait_for(lambda: sum(1 for ln in lines_of(out) if "HTTP/1.1\" 200 5" in ln
                             and "rport" not in ln) >= len(HOSTILE_DATAGRAMS),
                 what="every good line after a hostile datagram")
        assert proc.poll() is None
    finally:
        assert stop_process(proc, strict=True) == 0


HOSTILE_PEN_LINES = [
    "127.0.0.2 1795341600 127.0.0.1 GET / HTTP/1.1\tconn cport=\xb9",
    "127.0.0.2 1795341600 127.0.0.1 GET / HTTP/1.1\tconn cport=" + "9" * 10_000,
    "127.0.0.2 ١٧٩٥٣٤١٦٠٠ 127.0.0.1 GET / HTTP/1.1",
    "127.0.0.2 " + "9" * 10_000 + " 127.0.0.1 GET / HTTP/1.1",
    "\x00\x00\x00",
]


def test_mergelogs_survives_hostile_lines(tmp_path: Path) -> None:
    pen = tmp_path / "pen.log"
    pen.write_text("\n".join(HOSTILE_PEN_LINES
                             + ["127.0.0.9 1795341601 127.0.0.1 GET /1 HTTP/1.1"]) + "\n",
                   encoding="utf-8", errors="surrogateescape")
    web = tmp_path / "web.log"
    web.write_bytes(b"\n".join([
        b'127.0.0.1 - - [22/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5 rport=\xb9',
        b'127.0.0.1 - - [22/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5 rport=' + b"9" * 65_000,
        "127.0.0.1 - - [٢٢/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 5".encode(),
        b"\xff\xfe\x00 not a line",
        WEB.format(n=1).encode()]) + b"\n")
    r = subprocess.run([str(BIN / "mergelogs"), "-p", str(pen), f"127.0.0.1:{web}"],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    out = r.stdout.decode("latin-1").splitlines()
    assert out[-1].startswith("127.0.0.9 ") and "GET /1 HTTP/1.1" in out[-1]   # still matched
    assert b"could not be parsed" in r.stderr
