"""Under systemd: `<N>` priority prefixes when JOURNAL_STREAM names stderr (pen, penlogd; penvrrp
uses the same handler), and penlogd's sd_notify READY=1 (Type=notify)."""
from __future__ import annotations

import os
import re
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

from support.procs import stop_process, wait_for

BIN = Path(sys.executable).parent
STAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def _journal_env(err_file, notify_path: Path) -> dict:
    st = os.fstat(err_file.fileno())
    env = dict(os.environ, JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}",
               NOTIFY_SOCKET=str(notify_path))
    for var in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"):
        env.pop(var, None)
    return env


def _await(sock: socket.socket, word: bytes, proc: subprocess.Popen, timeout: float = 10) -> bytes:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([sock], [], [], 0.05)
        if ready:
            data = sock.recv(4096)
            if word in data:
                return data
        elif proc.poll() is not None:     # exited, and nothing more was sent
            raise AssertionError(f"exited with {proc.returncode} before {word!r}")
    raise AssertionError(f"no {word!r} within {timeout}s")


def _notify_socket(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    return sock


def test_pen_logs_priorities_without_timestamps_to_the_journal(tmp_path: Path) -> None:
    err = open(tmp_path / "stderr", "w+")
    notify = _notify_socket(tmp_path / "notify")
    proc = subprocess.Popen([str(BIN / "pen"), "-f", "-d", "-C", str(tmp_path / "ctl"),
                             str(tmp_path / "listen"), "127.0.0.1:9"],
                            stderr=err, env=_journal_env(err, tmp_path / "notify"))
    try:
        _await(notify, b"READY=1", proc)
    finally:
        stop_process(proc)
        notify.close()
    lines = (tmp_path / "stderr").read_text().splitlines()
    assert any(line.startswith("<6>pen-ha started") for line in lines), lines
    assert all(re.match(r"<[0-7]>", line) and not STAMP.search(line) for line in lines), lines


def test_pen_start_up_error_goes_to_the_journal_at_error_priority(tmp_path: Path) -> None:
    err = open(tmp_path / "stderr", "w+")
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()                 # pen cannot bind the address it is given
    try:
        proc = subprocess.run([str(BIN / "pen"), "-f", f"127.0.0.1:{busy.getsockname()[1]}",
                               "127.0.0.1:9"], stderr=err, timeout=30,
                              env=_journal_env(err, tmp_path / "notify"))
    finally:
        busy.close()
    lines = (tmp_path / "stderr").read_text().splitlines()
    assert proc.returncode == 1
    assert any(line.startswith("<3>pen: ") for line in lines), lines


def test_pen_keeps_its_timestamps_when_stderr_is_not_the_journal(tmp_path: Path) -> None:
    err = open(tmp_path / "stderr", "w+")
    notify = _notify_socket(tmp_path / "notify")
    env = dict(_journal_env(err, tmp_path / "notify"), JOURNAL_STREAM="1:1")
    proc = subprocess.Popen([str(BIN / "pen"), "-f", "-d", str(tmp_path / "listen"),
                             "127.0.0.1:9"], stderr=err, env=env)
    try:
        _await(notify, b"READY=1", proc)
    finally:
        stop_process(proc)
        notify.close()
    text = (tmp_path / "stderr").read_text()
    assert STAMP.match(text) and "<6>" not in text, text


def test_penlogd_notifies_ready_and_stopping_and_logs_priorities(tmp_path: Path) -> None:
    err = open(tmp_path / "stderr", "w+")
    notify = _notify_socket(tmp_path / "notify")
    proc = subprocess.Popen([str(BIN / "penlogd"), "-f", "-d", "-l", str(tmp_path / "out"), "0"],
                            stderr=err, env=_journal_env(err, tmp_path / "notify"))
    try:
        ready = _await(notify, b"READY=1", proc).decode()
        assert f"MAINPID={proc.pid}" in ready and "STATUS=merging on UDP" in ready
        # ready means bound: the status names the port, and it answers (the out file is open)
        port = int(re.search(r":(\d+)\n", ready + "\n").group(1))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b'127.0.0.1 - - [22/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5\n',
                     ("127.0.0.1", port))
        wait_for(lambda: (tmp_path / "out").exists(), what="merged log")
        proc.terminate()
        _await(notify, b"STOPPING=1", proc)
        assert proc.wait(20) == 0      # no second TERM: it would land in the interpreter's exit
    finally:
        stop_process(proc)
        notify.close()
    lines = (tmp_path / "stderr").read_text().splitlines()
    assert any(line.startswith("<7>listening on UDP") for line in lines), lines
    assert all(line.startswith("<") and not STAMP.search(line) for line in lines), lines
