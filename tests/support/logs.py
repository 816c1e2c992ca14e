"""Shared helpers for the log tools' tests (penlog, penlogd, mergelogs)."""
from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from support.procs import BIN, wait_for


def start_penlogd(tmp: Path, *args: str, out: Path | None = None) -> tuple[subprocess.Popen, int, Path]:
    """Our penlogd on UDP port 0 (foreground, line-buffered); returns (process, port, output)."""
    out = out or tmp / "merged.log"
    port_file = tmp / f"penlogd-{time.monotonic_ns()}.port"
    proc = subprocess.Popen([str(BIN / "penlogd"), "-f", "-b", "-l", str(out),
                             "--port-file", str(port_file), *args, "0"],
                            stderr=open(tmp / "penlogd.err", "ab"))
    try:
        text = wait_for(lambda: port_file.exists() and port_file.read_text().strip()
                        or proc.poll() is not None and "dead", 10, "penlogd's port file")
    except BaseException:
        proc.kill()
        raise
    assert text != "dead", (tmp / "penlogd.err").read_text()
    return proc, int(text), out


def send(port: int, data: bytes, src: str = "127.0.0.1") -> None:
    """One UDP datagram to 127.0.0.1:port from `src`."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((src, 0))
        s.sendto(data, ("127.0.0.1", port))


def lines_of(path: Path) -> list[str]:
    return path.read_text(encoding="latin-1").splitlines() if path.exists() else []
