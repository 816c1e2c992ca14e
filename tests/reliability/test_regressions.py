"""Regression tests for what the issue-10 suites found (docs/security.md, "Findings")."""
from __future__ import annotations

import signal
import time

from support.control import cmd, start_pen


def test_unread_notify_socket_does_not_freeze_pen(tmp_path, backends, summary) -> None:
    """Finding 1: sd_notify sent blocking; with NOTIFY_SOCKET's reader not reading (its queue
    holds 10 datagrams) the 6th SIGHUP froze the whole event loop.  Now it sends MSG_DONTWAIT."""
    (a,) = backends("echo", "a")
    cfg = tmp_path / "pen.cfg"
    cfg.write_text("blacklist 5\n")
    pen, path = start_pen(tmp_path, a.addr, opts=["-F", str(cfg)])   # nobody reads its notify
    try:
        for _ in range(30):
            pen.signal(signal.SIGHUP)
            time.sleep(0.01)
        t0 = time.monotonic()
        assert cmd(path, "pid") == f"{pen.proc.pid}\n"
        with pen.connect() as s:
            s.sendall(b"ok")
            assert s.recv(2) == b"ok"
        summary(hups=30, control_answer_s=f"{time.monotonic() - t0:.2f}")
    finally:
        pen.stop()


def test_unicode_digits_in_a_port_are_a_usage_error() -> None:
    """Finding 4 (fuzzing): `pen ²  ...` and `host:80:¹` died with a ValueError traceback
    ('²'.isdigit() is True, int('²') is not); now a usage error naming the value."""
    import subprocess

    from support.procs import PEN
    for argv in (["²", "127.0.0.1:80"], ["8080", "127.0.0.1:80:¹"]):
        r = subprocess.run([str(PEN), "-f", *argv], capture_output=True, text=True, timeout=20)
        assert r.returncode == 2 and "Traceback" not in r.stderr and "bad" in r.stderr, r.stderr
