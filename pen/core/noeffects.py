"""Effects that change nothing outside the interpreter: the SIGHUP dry run and the unit tests.

`pen.core.control.Effects` is everything a penctl command may do to the world: resolve a
name, listen elsewhere, open a log, close a connection, write or read a file, exit.
`NoEffects` implements every one of them by recording what was asked on itself, and nothing
more.  So a trial run of an -F file against a copy of the state (docs/configuration.md
"SIGHUP": all or nothing) checks each line without opening, closing or writing anything,
and the unit tests see what a command asked for.

It is a complete implementation, not a subclass of the engine's effects: a method it lacks
is a type error (mypy checks it against the protocol), never a real effect done by accident.
Name resolution and the listen-address check are the two things a dry run must do for real
(a line naming an unknown host is a bad line): the caller passes them in; by default no
lookup happens at all (`offline_resolve`).
"""
from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Callable

from pen.core import stats
from pen.core.addr import AddressError, parse_listen
from pen.core.balance.state import PenState

if TYPE_CHECKING:
    from pen.core.control import Effects

Resolver = Callable[[str, int], "tuple[int, str, tuple | str]"]


def offline_resolve(host: str, port: int) -> tuple[int, str, tuple | str]:
    """A name taken as written, without a lookup: a path is a unix socket, a name in the
    `.invalid` domain fails (RFC 6761 §6.4: it never resolves), text with ':' is IPv6."""
    if "/" in host:
        return socket.AF_UNIX, host, host
    if host == "invalid" or host.endswith(".invalid"):
        raise AddressError(f"unknown or invalid address [{host}]")
    if ":" in host:
        return socket.AF_INET6, host, (host, port, 0, 0)
    return socket.AF_INET, host, (host, port)


class NoEffects:
    """Every effect recorded, none carried out.  `clock`, `wall` and `pid_value` are what
    `now()`, `wall_time()` and `pid()` answer; `files` is what `read_file` finds (unless a
    `read_file` function is given); `conns` the connections `connection N` shows."""

    def __init__(self, state: PenState, *, listen: str | None = None, now: float = 0.0,
                 wall: float = 0.0, pid: int = 0, resolve: Resolver = offline_resolve,
                 check_listen: Callable[[str], None] | None = None,
                 read_file: Callable[[str], str] | None = None) -> None:
        self.state = state
        self.clock = now
        self.wall = wall
        self.pid_value = pid
        self.listen = listen
        self.resolver = resolve
        self.check_listen = check_listen
        self.reader = read_file
        self.listen_error: OSError | None = None    # what `relisten` raises, when set
        self.unwritable: list[str] = []             # directories `write_file` cannot reach
        self.files: dict[str, str] = {}
        self.written: dict[str, str] = {}
        self.printed: list[str] = []
        self.closed: list[int] = []
        self.conns: dict[int, stats.ConnView] = {}
        self.log_target: str | None = None
        self.debug_level = 0
        self.exited = False

    def pid(self) -> int:
        return self.pid_value

    def now(self) -> float:
        return self.clock

    def wall_time(self) -> float:
        return self.wall

    def resolve(self, host: str, port: int) -> tuple[int, str, tuple | str]:
        return self.resolver(host, port)

    def listen_text(self) -> str | None:
        return self.listen

    def relisten(self, text: str) -> str:
        """The new address is parsed (and checked, when `check_listen` is given), not opened."""
        if self.listen_error is not None:
            raise self.listen_error
        parse_listen(text)
        if self.check_listen is not None:
            self.check_listen(text)
        self.listen = text
        return text

    def set_log(self, target: str | None) -> None:
        self.log_target = target

    def set_debug(self, level: int) -> None:
        self.debug_level = level

    def grow_conn_max(self, n: int) -> int:
        s = self.state.settings
        s.conn_max = max(n, s.conn_max)
        return s.conn_max

    def connection(self, n: int) -> stats.ConnView | None:
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
                              self.wall - self.clock, len(self.conns))

    def write_file(self, path: str, text: str) -> None:
        if any(path.startswith(d) for d in self.unwritable):
            raise FileNotFoundError(2, "No such file or directory", path)
        self.written[path] = text

    def read_file(self, path: str) -> str:
        if self.reader is not None:
            return self.reader(path)
        if path not in self.files:
            raise FileNotFoundError(2, "No such file or directory", path)
        return self.files[path]

    def output(self, text: str) -> None:
        self.printed.append(text)

    def exit(self) -> None:
        self.exited = True


if TYPE_CHECKING:
    def _is_effects(fx: NoEffects) -> Effects:
        return fx              # mypy: NoEffects implements the whole protocol
