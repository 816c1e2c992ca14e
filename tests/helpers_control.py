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
    fx = FakeEffects(state)
    interp = Interpreter(state, fx, running=running, version="test")
    for i, spec in enumerate(specs):
        host, port = spec.rsplit(":", 1)
        assert interp.run(f"server {i} address {host} port {port}").error is None
    return interp, fx

