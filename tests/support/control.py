"""Control-port test support: an interpreter over `pen.core.noeffects.NoEffects` (the same
no-op effects the SIGHUP dry run uses), and the control port of real pen processes."""
from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

from pen.core.control import Interpreter
from pen.core.noeffects import NoEffects
from pen.core.balance.state import PenState
from pen.settings import Settings
from support.procs import C_PEN, PEN, PENCTL, Pen, free_port, wait_for


def make(settings: Settings | None = None, specs=("127.0.0.1:8081", "127.0.0.1:8082"),
         running: bool = True) -> tuple[Interpreter, NoEffects]:
    """An interpreter with servers `specs`, its effects recorded on the NoEffects returned
    (clock 1000.0, wall clock 1.7e9, pid 4242, listening on 127.0.0.1:8080; /nonexistent/
    cannot be written)."""
    state = PenState(settings or Settings())
    if not state.settings.confine.dirs:
        state.settings.confine.dirs = ["/"]    # issue 10: these tests are not about confinement
    fx = NoEffects(state, listen="127.0.0.1:8080", now=1000.0, wall=1_700_000_000.0, pid=4242)
    fx.unwritable = ["/nonexistent/"]
    interp = Interpreter(state, fx, running=running, version="test")
    for i, spec in enumerate(specs):
        host, port = spec.rsplit(":", 1)
        assert interp.run(f"server {i} address {host} port {port}").error is None
    return interp, fx


# -- helpers for tests with real processes ------------------------------------------------------


def ctl(address: str, line: str | bytes, timeout: float = 5.0) -> bytes:
    """One raw control connection: send `line` as is, return everything until pen closes."""
    data = line.encode() if isinstance(line, str) else line
    if "/" in address:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        target: object = address
    else:
        host, _, port = address.rpartition(":")
        s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        target = (host.strip("[]"), int(port))
    s.settimeout(timeout)
    with s:
        s.connect(target)
        s.sendall(data)
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def cmd(address: str, line: str) -> str:
    return ctl(address, line + "\n").decode()


def wait_control(address: str, timeout: float = 10.0) -> None:
    def answers() -> bool:
        try:
            return bool(ctl(address, "pid\n", timeout=1.0))
        except OSError:
            return False
    wait_for(answers, timeout, 0.02, f"control port {address}")


def penctl(*args: str, exe: Path = PENCTL, timeout: float = 10.0) -> subprocess.CompletedProcess:
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=timeout)


def start_pen(directory: Path, *servers: str, opts: tuple[str, ...] | list[str] = (),
              exe: Path = PEN, listen: str | None = None, control: str | None = None,
              history_interval: float | None = None) -> tuple[Pen, str]:
    """pen with a control port; returns (Pen, control address).  The control port is a unix
    socket in `directory`, or `control` as given, or with control="tcp" a loopback TCP port
    (pen's -C takes no port 0: a free port is picked and, should another test take it first,
    retried).  `history_interval`: our pen samples its history that often (webstats' charts).
    C pen gets `-u root` (it refuses a control port as root otherwise) and a unix listen
    socket."""
    env = {"PEN_HISTORY_INTERVAL": str(history_interval)} if history_interval else None
    extra: list[str] = []
    if exe == C_PEN:
        extra = ["-u", "root"]
        if listen is None:
            listen = str(directory / f"lb-{time.monotonic_ns()}.sock")
    attempts = 3 if control == "tcp" else 1
    for attempt in range(attempts):
        if control == "tcp":
            address = f"127.0.0.1:{free_port()}"
        else:
            address = control or str(directory / f"ctl-{exe.parent.name}-{time.monotonic_ns()}.sock")
        try:
            pen = Pen(*servers, opts=[*extra, "-C", address, *opts], exe=exe, listen=listen,
                      env=env)
        except RuntimeError:
            if attempt + 1 == attempts:
                raise
            continue
        break
    try:
        wait_control(address)
    except TimeoutError:
        errors = pen.errors()
        pen.stop()
        raise RuntimeError(f"{exe} control port did not come up: {errors}") from None
    return pen, address


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
