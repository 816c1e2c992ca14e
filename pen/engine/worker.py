"""One worker process of `--workers N`, and the main process's interpreter that feeds them
(docs/architecture.md "Workers").

A worker is a Balancer of its own (its own reactor, its own listening socket or the shared one)
over the configuration it inherited at fork, deciding through the shared tables; it runs the
configuration commands the main process forwards, and moves bytes.  The main process keeps
the control port, the health checks, -w, the pid file and the signals.
"""
from __future__ import annotations

import errno
import gc
import logging
import signal
from dataclasses import asdict, replace

from pen import __version__
from pen.core import stats
from pen.core.balance.shared import SharedStore
from pen.core.control import CommandError, Interpreter, Reply
from pen.core.numbers import ascii_integer
from pen.engine.balancer import Balancer
from pen.engine.control_server import EngineEffects, conn_view
from pen.engine.reactor import EPOLLIN
from pen.engine.sigflags import on_signals
from pen.engine.workers import CommandFeed, Workers, WorkerSlot

log = logging.getLogger("pen")

# commands the main process answers alone: read-only, or acting on the main process only
# (`include` is forwarded line by line as it runs)
MAIN_ONLY = frozenset({"include", "write", "exit", "pid", "servers", "recent", "status",
                       "connection", "socket", "idlers", "control", "web_stats", "close",
                       "server_state", "snapshot_json", "history", "history_json", "metrics",
                       "listen", "workers"})
# replies that list clients: the main process's client table is rebuilt from the shared one
LISTS_CLIENTS = frozenset({"recent", "status", "snapshot_json", "metrics", "write"})


class MainEffects(EngineEffects):
    """The main process's effects: sums over the workers; no listener of its own to move; the
    connections are the workers', asked for over their command pipes (docs/pen.md "More
    cores"): worker w's slot s is connection s * N + w, so with one worker nothing changes."""

    def __init__(self, bal: Balancer, store: SharedStore, workers: Workers) -> None:
        super().__init__(bal)
        self.store, self.workers = store, workers

    def _where(self, n: int) -> tuple[int, int]:
        """Connection number -> (worker, its slot)."""
        return n % self.workers.n, n // self.workers.n

    def connection(self, n: int) -> stats.ConnView | None:
        w, slot = self._where(n)
        got = self.workers.query(f"connection {slot}", only=w).get(w)
        return replace(stats.ConnView(**got), index=n) if isinstance(got, dict) else None

    def close_connection(self, n: int) -> None:
        w, slot = self._where(n)
        self.workers.query(f"close {slot}", only=w)

    def socket_owner(self, fd: int) -> int:
        """Descriptors are per process: the lowest worker holding `fd` answers."""
        for w, slot in sorted(self.workers.query(f"socket {fd}").items()):
            if isinstance(slot, int) and slot >= 0:
                return slot * self.workers.n + w
        return -1

    def relisten(self, text: str) -> str:
        raise OSError(errno.EOPNOTSUPP, "not with --workers (restart pen with the new address)")

    def snapshot(self) -> dict:
        self.store.refresh_all()
        self.store.export_clients(self.bal.state.clients)
        snap = super().snapshot()
        views = []
        for w, conns in sorted(self.workers.query("connections").items()):
            for got in conns if isinstance(conns, list) else []:
                views.append(asdict(replace(stats.ConnView(**got),
                                            index=got["index"] * self.workers.n + w)))
        views.sort(key=lambda v: v["index"])
        snap["connections"] = views
        snap["conn_used"] = len(views)
        snap["conn_last"] = max((v["index"] + 1 for v in views), default=0)
        return snap


class MainInterpreter(Interpreter):
    """Runs a command in the main process against the sums, then forwards it to the workers."""

    def __init__(self, bal: Balancer, store: SharedStore, workers: Workers) -> None:
        super().__init__(bal.state, MainEffects(bal, store, workers), running=True,
                         version=__version__)
        self.store, self.workers = store, workers

    def connection_numbers(self) -> int:
        """Connection numbers run over every worker's slots (MainEffects)."""
        return self.state.settings.conn_max * self.workers.n

    def c_clients_max(self, words: list[str]) -> str:
        """C pen's `clients_max N`, the shared client table grown to match (kept as it was,
        and the command refused, when there is no memory for it)."""
        s = self.state.settings
        before = s.clients_max
        reply = super().c_clients_max(words)
        try:
            self.workers.grow_clients(s.clients_max)
        except (OSError, ValueError) as e:
            s.clients_max = self.state.clients.size = before
            raise CommandError(f"clients_max: cannot grow the shared client table: {e}") from None
        return reply

    def run(self, line: str) -> Reply:
        word = (line.split() or [""])[0]
        self.store.refresh_all()
        if word in LISTS_CLIENTS:
            self.store.export_clients(self.state.clients)
        before = {srv.index: srv.blacklisted_at for srv in self.state.servers.servers}
        reply = super().run(line)
        self.store.publish_blacklistings(before)
        self.store.publish_health()
        if not reply.error and word and not word.startswith("#") and word not in MAIN_ONLY:
            self.workers.broadcast(line)
        return reply


class WorkerEffects(EngineEffects):
    """A forwarded command's effects in a worker: no output, no files, no exit of its own."""

    def output(self, text: str) -> None:
        pass

    def write_file(self, path: str, text: str) -> None:
        pass

    def exit(self) -> None:
        pass


def run_worker(main: Balancer, slot: WorkerSlot, workers: Workers) -> int:
    """The body of worker `slot.index`, in the forked child."""
    main.reactor.close()              # the child's handle on the main process's epoll
    signal.set_wakeup_fd(-1)
    state = main.state
    st = state.servers
    for srv in [*st.servers, st.emergency, st.abuse]:
        if srv is not None:
            srv.sx = srv.rx = srv.total = srv.failures = 0   # the main's were sums; start at 0
    bal = Balancer(state, workers.store(state, slot.index), checks=False)
    bal.tls_ctx = main.tls_ctx
    bal.logsink = main.logsink          # the same O_APPEND file or UDP target
    bal.open_listener(main.listen_text or "", slot.sock)
    interp = Interpreter(state, WorkerEffects(bal), running=True, version=__version__)
    bal.interp = interp

    def run_line(line: str) -> None:
        reply = interp.run(line)
        if reply.error:
            log.warning("worker %d: %s", slot.index, reply.error)

    feed = CommandFeed(slot.cmd_r, slot.ack_w, run_line, lambda q: answer(bal, q))

    def on_commands(ev: int) -> None:
        if not feed.on_readable(ev):
            bal.reactor.stop()          # the main process has gone
    bal.reactor.add(slot.cmd_r, EPOLLIN, on_commands)
    install_worker_signals(bal)
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 50)
    try:
        bal.run()
    finally:
        bal.shutdown()
    return 0


def answer(bal: Balancer, question: str) -> object:
    """A worker's answer to the main process's query about its connections (by its own slot
    numbers; the main process numbers them over all workers)."""
    word, _, arg = question.partition(" ")
    if word == "connections":
        return [asdict(conn_view(c)) for c in bal.conns if c is not None]
    n = ascii_integer(arg)
    if n is None:
        raise ValueError(f"not a number: {arg!r}")
    if word == "connection":
        view = EngineEffects(bal).connection(n)
        return asdict(view) if view is not None else None
    if word == "close":
        return bal.close_connection(n)
    if word == "socket":
        return bal.socket_owner(n)
    raise ValueError(f"unknown query {word!r}")


def install_worker_signals(bal: Balancer) -> None:
    """TERM stops the worker; HUP reopens its log and reloads TLS (the main process re-reads
    -F and forwards the commands); USR1 is the main process's; INT belongs to the main."""
    for sig in (signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)

    def act(signum: int) -> None:
        if signum == signal.SIGTERM:
            bal.reactor.stop()
        elif signum == signal.SIGHUP:
            bal.reopen_log()
            bal.reload_tls()

    on_signals(bal.reactor, (signal.SIGTERM, signal.SIGHUP), act)
