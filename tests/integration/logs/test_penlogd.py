"""penlogd and penlog as processes on real UDP sockets (penlog(1), penlogd(1))."""
from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from support.procs import BIN, stop_process, wait_for
from support.logs import lines_of, send, start_penlogd

from pen.core.formats.accesslog import PenEntry, net_datagram

WEB = '127.0.0.1 - - [22/Nov/2026:10:00:0{n} +0000] "{req}" 200 5'


def web(n: int, req: str = "GET /x HTTP/1.1") -> str:
    return WEB.format(n=n, req=req)


def test_spec_injection_fixed_attribution(tmp_path: Path) -> None:
    """Injected datagrams (docs/penlogd.md "Differences from C"): C gives both /x lines to .3 and drops two lines."""
    proc, port, out = start_penlogd(tmp_path, "--hold", "0")
    try:
        send(port, b"+ 127.0.0.2 127.0.0.1 GET /x HTTP/1.1\n")
        send(port, b"+ 127.0.0.3 127.0.0.1 GET /x HTTP/1.1\n")
        for n in (0, 1):
            send(port, (web(n) + "\n").encode())
        send(port, (web(2, "GET /never-seen-by-pen HTTP/1.1") + "\n").encode())
        send(port, b"garbage line without quotes\n")
        send(port, b"+ malformed\n")
        wait_for(lambda: len(lines_of(out)) == 4, what="4 merged lines")
    finally:
        assert stop_process(proc, strict=True) == 0
    assert lines_of(out) == [web(0).replace("127.0.0.1", "127.0.0.2", 1),
                             web(1).replace("127.0.0.1", "127.0.0.3", 1),
                             web(2, "GET /never-seen-by-pen HTTP/1.1"),
                             "garbage line without quotes"]


def test_penlog_forwards_stdin_and_ports_match(tmp_path: Path) -> None:
    proc, port, out = start_penlogd(tmp_path)
    try:
        for i, lport in enumerate((5001, 5002, 5003)):
            e = PenEntry(f"127.0.0.{i + 2}", 40000, "127.0.0.1", 80, lport, 0, "GET / HTTP/1.1")
            send(port, net_datagram(e))
        lines = "".join(web(0, "GET / HTTP/1.1") + f" rport={p} sport=80\n" for p in (5003, 5001, 5002))
        r = subprocess.run([str(BIN / "penlog"), "127.0.0.1", str(port), "127.0.0.1"],
                           input=lines.encode(), timeout=10)
        assert r.returncode == 0
        wait_for(lambda: len(lines_of(out)) == 3, what="3 merged lines")
    finally:
        stop_process(proc, strict=True)
    assert [l.split()[0] for l in lines_of(out)] == ["127.0.0.4", "127.0.0.2", "127.0.0.3"]
    assert all("rport" not in l for l in lines_of(out))


def test_penlog_usage() -> None:
    r = subprocess.run([str(BIN / "penlog"), "127.0.0.1"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 1 and "server_ip server_port [my_ip]" in r.stderr
    r = subprocess.run([str(BIN / "penlog"), "--help"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and "penlogd" in r.stdout


def test_senders_not_allowed_are_ignored(tmp_path: Path) -> None:
    proc, port, out = start_penlogd(tmp_path, "--hold", "0", "--allow", "127.0.0.1")
    try:
        send(port, (web(0) + " from-a-stranger\n").encode(), src="127.0.0.9")
        send(port, b"+ 127.0.0.66 127.0.0.1 GET /x HTTP/1.1\n", src="127.0.0.9")
        send(port, (web(1) + "\n").encode())
        wait_for(lambda: lines_of(out), what="a merged line")
    finally:
        stop_process(proc, strict=True)
    assert lines_of(out) == [web(1)]
    assert "127.0.0.9" in (tmp_path / "penlogd.err").read_text()


def test_hup_reopens_and_term_flushes_waiting_lines(tmp_path: Path) -> None:
    proc, port, out = start_penlogd(tmp_path, "--hold", "30", "-p", str(tmp_path / "pid"))
    try:
        assert int((tmp_path / "pid").read_text()) == proc.pid
        send(port, b"+ 127.0.0.2 127.0.0.1 GET /a HTTP/1.1\n")
        send(port, (web(0, "GET /a HTTP/1.1") + "\n").encode())
        wait_for(lambda: lines_of(out), what="first line")
        os.rename(out, tmp_path / "rotated.log")
        proc.send_signal(signal.SIGHUP)
        # a line that waits (no pen entry), then HUP's effect: a new file for what follows
        send(port, b"+ 127.0.0.3 127.0.0.1 GET /b HTTP/1.1\n")
        send(port, (web(1, "GET /b HTTP/1.1") + "\n").encode())
        wait_for(lambda: lines_of(out), what="line in the reopened file")
        send(port, (web(2, "GET /waiting HTTP/1.1") + "\n").encode())
        send(port, b"+ 127.0.0.4 127.0.0.1 GET /sync HTTP/1.1\n")
        send(port, (web(3, "GET /sync HTTP/1.1") + "\n").encode())
        wait_for(lambda: len(lines_of(out)) == 2, what="sync line")
    finally:
        assert stop_process(proc, strict=True) == 0
    assert lines_of(tmp_path / "rotated.log") == [web(0, "GET /a HTTP/1.1").replace("127.0.0.1", "127.0.0.2", 1)]
    assert lines_of(out)[-1] == web(2, "GET /waiting HTTP/1.1")     # written at TERM
    assert len(lines_of(out)) == 3
    assert not (tmp_path / "pid").exists()


def test_usage_and_bad_options(tmp_path: Path) -> None:
    r = subprocess.run([str(BIN / "penlogd")], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and "penlogd [options] port" in r.stdout
    r = subprocess.run([str(BIN / "penlogd"), "-f", "--allow", "nonsense", "0"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 1 and "nonsense" in r.stderr
    r = subprocess.run([str(BIN / "penlogd"), "-f", "-l", str(tmp_path / "no/such/dir"), "0"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 1 and "logfile" in r.stderr
