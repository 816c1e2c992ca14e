"""Control-port test helpers: a fake of the interpreter's effects (pen.core.control.Effects)."""
from __future__ import annotations

import socket

from pen.core import stats
from pen.core.addr import AddressError
from pen.core.control import Interpreter
from pen.core.state import PenState
from pen.settings import Settings


class FakeEffects:
    def __init__(self, state: PenState) -> None:
        self.state = state
        self.clock = 1000.0
        self.listen = "127.0.0.1:8080"
        self.files: dict[str, str] = {}
        self.written: dict[str, str] = {}
        self.printed: list[str] = []
        self.closed: list[int] = []
        self.conns: dict[int, stats.ConnView] = {}
        self.log_target: str | None = None
        self.debug_level = 0
        self.exited = False
        self.fail_relisten = False

    def pid(self) -> int:
        return 4242

    def now(self) -> float:
        return self.clock

    def wall_time(self) -> float:
        return 1_700_000_000.0

    def resolve(self, host: str, port: int):
        if "/" in host:
            return socket.AF_UNIX, host, host
        if host.endswith(".invalid"):
            raise AddressError(f"unknown or invalid address [{host}]")
        if ":" in host:
            return socket.AF_INET6, host, (host, port, 0, 0)
        return socket.AF_INET, host, (host, port)

    def listen_text(self):
        return self.listen

    def relisten(self, text: str) -> str:
        if self.fail_relisten:
            raise OSError(98, "Address already in use")
        self.listen = text
        return text

    def set_log(self, target):
        self.log_target = target

    def set_debug(self, level: int) -> None:
        self.debug_level = level

    def grow_conn_max(self, n: int) -> int:
        self.state.settings.conn_max = max(n, self.state.settings.conn_max)
        return self.state.settings.conn_max

    def connection(self, n: int):
        return self.conns.get(n)

    def close_connection(self, n: int) -> None:
        self.closed.append(n)

    def socket_owner(self, fd: int) -> int:
        for view in self.conns.values():
            if fd in (view.downfd, view.upfd):
                return view.index
        return -1

    def snapshot(self) -> dict:
        return stats.snapshot(self.state, list(self.conns.values()), self.clock,
                              1_700_000_000.0 - self.clock, len(self.conns))

    def write_file(self, path: str, text: str) -> None:
        if path.startswith("/nonexistent/"):
            raise OSError(2, "No such file or directory")
        self.written[path] = text

    def read_file(self, path: str) -> str:
        if path not in self.files:
            raise OSError(2, "No such file or directory")
        return self.files[path]

    def output(self, text: str) -> None:
        self.printed.append(text)

    def exit(self) -> None:
        self.exited = True


def make(settings: Settings | None = None, specs=("127.0.0.1:8081", "127.0.0.1:8082"),
         running: bool = True) -> tuple[Interpreter, FakeEffects]:
    state = PenState(settings or Settings())
    if not state.settings.confine.dirs:
        state.settings.confine.dirs = ["/"]    # issue 10: these tests are not about confinement
    fx = FakeEffects(state)
    interp = Interpreter(state, fx, running=running, version="test")
    for i, spec in enumerate(specs):
        host, port = spec.rsplit(":", 1)
        assert interp.run(f"server {i} address {host} port {port}").error is None
    return interp, fx



# -- helpers for tests with real processes ------------------------------------------------------
import os  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from support.procs import C_PEN, PEN, PENCTL, Pen, wait_for  # noqa: E402,F401


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
              exe: Path = PEN, listen: str | None = None) -> tuple[Pen, str]:
    """pen with a unix control socket in `directory`; returns (Pen, control path).  C pen gets
    `-u root` (it refuses a control port as root otherwise) and a unix listen socket."""
    path = str(directory / f"ctl-{exe.parent.name}-{time.monotonic_ns()}.sock")
    extra = ["-C", path]
    if exe == C_PEN:
        extra = ["-u", "root"] + extra
        if listen is None:
            listen = str(directory / f"lb-{time.monotonic_ns()}.sock")
    pen = Pen(*servers, opts=[*extra, *opts], exe=exe, listen=listen)
    try:
        wait_control(path)
    except TimeoutError:
        errors = pen.errors()
        pen.stop()
        raise RuntimeError(f"{exe} control port did not come up: {errors}") from None
    return pen, path


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
