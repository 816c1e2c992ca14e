"""mergelogs as a program: options, errors, gzip, progress bar only on a terminal (mergelogs(1))."""
from __future__ import annotations

import gzip
import os
import pty
import re
import subprocess
import time
from pathlib import Path

from support.procs import BIN

MERGELOGS = str(BIN / "mergelogs")
PEN = "127.0.0.2 1795315407 127.0.0.1 GET / HTTP/1.1\n127.0.0.3 1795315408 127.0.0.1 GET /b HTTP/1.1\n"
WEB = ('127.0.0.1 - - [22/Nov/2026:02:43:27 +0000] "GET / HTTP/1.1" 200 16\n'
       "not a log line\n"
       '127.0.0.1 - - [22/Nov/2026:02:43:28 +0000] "GET /b HTTP/1.1" 200 16\n')


def files(tmp: Path) -> tuple[Path, Path]:
    (tmp / "pen.log").write_text(PEN)
    (tmp / "web.log").write_text(WEB)
    return tmp / "pen.log", tmp / "web.log"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([MERGELOGS, *args], capture_output=True, text=True, timeout=30)


def test_merge_counts_unparsed_and_keeps_them(tmp_path: Path) -> None:
    pen, web = files(tmp_path)
    r = run("-p", str(pen), f"127.0.0.1:{web}")
    assert r.returncode == 0
    assert r.stdout.splitlines() == [
        '127.0.0.2 - - [22/Nov/2026:02:43:27 +0000] "GET / HTTP/1.1" 200 16',
        "not a log line",
        '127.0.0.3 - - [22/Nov/2026:02:43:28 +0000] "GET /b HTTP/1.1" 200 16']
    assert "1 line(s) could not be parsed" in r.stderr
    assert "merging" not in r.stderr and "%" not in r.stderr     # no progress bar in a pipe


def test_usage_and_errors(tmp_path: Path) -> None:
    pen, web = files(tmp_path)
    r = run()
    assert r.returncode == 0 and "server1:logfile1" in r.stdout
    r = run("-p", str(pen), "nocolon")
    assert r.returncode == 1 and "Bogus server 'nocolon'" in r.stderr
    r = run("-p", str(tmp_path / "missing"), f"127.0.0.1:{web}")
    assert r.returncode == 1 and "missing" in r.stderr
    r = run("-p", str(pen), f"127.0.0.1:{tmp_path / 'nope'}")
    assert r.returncode == 1 and "Can't open logfile" in r.stderr
    r = run(f"127.0.0.1:{web}")
    assert r.returncode == 1 and "-p" in r.stderr
    r = run("-a", "x", "-c", "-d", "-d", "-j", "5", "-t", "0", "-p", str(pen), f"127.0.0.1:{web}")
    assert r.returncode == 0 and "2 by request" in r.stderr


def test_gzip_inputs_and_ipv6_label(tmp_path: Path) -> None:
    (tmp_path / "pen.gz").write_bytes(gzip.compress(PEN.replace(" 127.0.0.1 ", " 2001:db8::1 ").encode()))
    (tmp_path / "web.gz").write_bytes(gzip.compress(WEB.encode()))
    r = run("-p", str(tmp_path / "pen.gz"), f"[2001:db8::1]:{tmp_path / 'web.gz'}")
    assert r.returncode == 0 and [l.split()[0] for l in r.stdout.splitlines()] == [
        "127.0.0.2", "not", "127.0.0.3"]


def on_a_terminal(*args: str) -> tuple[subprocess.CompletedProcess, bytes, float]:
    """mergelogs with stderr on a pty: (result, what the terminal got, seconds it took)."""
    master, slave = pty.openpty()
    started = time.monotonic()
    try:
        r = subprocess.run([MERGELOGS, *args], stdout=subprocess.PIPE, stderr=slave, timeout=120)
        took = time.monotonic() - started
        os.close(slave)
        slave = -1
        err = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            err += chunk
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
    return r, err, took


def test_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    pen, web = files(tmp_path)
    r, err, _ = on_a_terminal("-p", str(pen), f"127.0.0.1:{web}")
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 3
    assert b"merging" in err and b"100%" in err and b"lines/s" in err


def test_progress_with_c_moves_forward_with_an_eta_twice_a_second(tmp_path: Path) -> None:
    """-c rescans pen's log for every web line: slow, the case a bar is for.  The bar counts
    the web log's bytes only, so the percentage never goes back; it is redrawn every 0.25 s."""
    n = 1300
    with open(tmp_path / "pen.log", "w") as f:
        for i in range(n):
            f.write(f"10.0.{i // 250}.{i % 250 + 1} {1795315407 + i} 127.0.0.1 GET /p{i} HTTP/1.1\n")
    with open(tmp_path / "web.log", "w") as f:
        for i in range(n):
            stamp = time.strftime("%d/%b/%Y:%H:%M:%S", time.gmtime(1795315407 + i))
            f.write(f'127.0.0.1 - - [{stamp} +0000] "GET /p{i} HTTP/1.1" 200 16\n')
    r, err, took = on_a_terminal("-c", "-p", str(tmp_path / "pen.log"),
                                 f"127.0.0.1:{tmp_path / 'web.log'}")
    assert r.returncode == 0 and r.stdout.decode().splitlines()[-1].startswith(f"10.0.{(n - 1) // 250}.{(n - 1) % 250 + 1} ")
    frames = [f for f in err.decode().split("\r") if "%" in f]
    percents = [int(m.group(1)) for f in frames if (m := re.search(r"(\d+)%", f))]
    assert percents == sorted(percents) and percents[-1] == 100, percents
    # the ETA (click computes it once a second: the input is sized to take longer than that)
    assert took > 1.0 and any(re.search(r"\d\d:\d\d:\d\d", f) for f in frames), (took, frames)
    if took > 1.5:      # a redraw every 0.25 s (only when the line changes: lines/s does)
        assert len(frames) >= 2 * took - 2, (len(frames), took)
