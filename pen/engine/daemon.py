"""Process life: start-up order, daemon, pid file, chroot, user, signals (pen(1) OPTIONS;
docs/pen.md "As a daemon", "Signals").

Start-up, in order: resolve the command-line servers, run -o/-O commands and the -F file (so
the file refines the command line; C pen did it the other way round and let the command line
overwrite the file: docs/configuration.md "Start-up order"), open the listener (or adopt
systemd's, LISTEN_FDS), open the control port, daemonize unless -f, chroot, open the log,
write the pid file, drop privileges, run.
Errors before the loop starts are reported on stderr and exit 1: nothing runs half-configured.
"""
from __future__ import annotations

import gc
import importlib
import logging
import os
import pwd
import signal
import socket
import sys
import time
from typing import TYPE_CHECKING, Callable

from pen.core.addr import AddressError
from pen.core.balance.servers import ABUSE, EMERGENCY
from pen.core.balance.state import PenState
from pen.core.numbers import ascii_decimal
from pen.engine import history_glue, sdnotify, takeover, tls
from pen.engine.balancer import Balancer
from pen.engine.logsink import is_network_target
from pen.engine.sigflags import on_signals
from pen.procutil import become_user, daemonize, log_handler, stderr_is_journal
from pen.settings import Settings

if TYPE_CHECKING:
    from pen.engine.workers import Workers, WorkerSlot

log = logging.getLogger("pen")


class StartupError(Exception):
    """A problem that stops pen before it serves; the message is shown as is."""


def setup_logging(settings: Settings, to_syslog: bool) -> None:
    root = logging.getLogger("pen")
    root.handlers.clear()
    root.addHandler(log_handler("pen", foreground=not to_syslog))
    root.propagate = False
    set_debug_level(settings.debug)


def set_debug_level(level: int) -> None:
    """-d levels: 0 warnings and errors, 1 notable events, 2 and up full trace."""
    logging.getLogger("pen").setLevel(
        logging.WARNING if level <= 0 else logging.INFO if level == 1 else logging.DEBUG)


def build(settings: Settings, clock: Callable[[], float] = time.monotonic) -> Balancer:
    """The Balancer of `settings` with its command-line servers; `clock` as Balancer's."""
    state = PenState(settings)
    bal = Balancer(state, clock=clock)
    try:
        for index, spec in enumerate(settings.server_specs):
            bal.apply_server_spec(index, spec)
        for attr, extra in (("emergency", settings.emergency), ("abuse", settings.abuse)):
            if extra:
                srv = bal.apply_server_spec(EMERGENCY if attr == "emergency" else ABUSE, extra)
                setattr(state.servers, attr, srv)
    except AddressError as e:
        raise StartupError(str(e)) from None
    return bal


SD_LISTEN_FDS_START = 3


def adopt_listen_fds() -> tuple[socket.socket | None, socket.socket | None]:
    """systemd socket activation (sd_listen_fds(3)): (listener, control port).  With
    LISTEN_FDNAMES, the fd named `listen` is the listener and the one named `control` the
    control port (systemd's FileDescriptorName=); without names, fd 3 is the listener."""
    count = ascii_decimal(os.environ.get("LISTEN_FDS", ""), 4)
    pid = os.environ.get("LISTEN_PID")
    names = os.environ.get("LISTEN_FDNAMES", "")
    if not count or (pid and pid != str(os.getpid())):
        return None, None
    for var in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"):
        os.environ.pop(var, None)
    fds = list(range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + count))
    labels = names.split(":") if names else []
    if not set(labels) & {"listen", "control"}:
        return _adopt(fds[0]), None
    found: dict[str, socket.socket] = {}
    for fd, label in zip(fds, labels):
        if label in ("listen", "control") and label not in found:
            found[label] = _adopt(fd)
        else:
            log.warning("socket activation: fd %d named %r is not used (pen takes `listen` "
                        "and `control`)", fd, label)
    return found.get("listen"), found.get("control")


def _adopt(fd: int) -> socket.socket:
    sock = socket.socket(fileno=fd)
    sock.setblocking(False)
    return sock


def socket_address(sock: socket.socket) -> str:
    """An activated socket's address in pen's syntax: host:port, [v6]:port or the unix path."""
    name = sock.getsockname()
    if sock.family == socket.AF_UNIX:
        return name if isinstance(name, str) else name.decode()
    if sock.family == socket.AF_INET6:
        return f"[{name[0]}]:{name[1]}"
    return f"{name[0]}:{name[1]}"


def absolute_paths(settings: Settings) -> None:
    """Relative -l/-p/-w/-F paths stay relative to where pen was started, even as a daemon
    (C pen resolved them against / after daemonizing; docs/pen.md "As a daemon")."""
    if settings.chroot:
        return
    for attr in ("pidfile", "web_stats", "config_file"):
        value = getattr(settings, attr)
        if value and not os.path.isabs(value):
            setattr(settings, attr, os.path.abspath(value))
    lf = settings.logfile
    if lf and not is_network_target(lf) and not os.path.isabs(lf):
        settings.logfile = os.path.abspath(lf)


def run(settings: Settings) -> int:
    setup_logging(settings, to_syslog=False)
    absolute_paths(settings)
    sdnotify.prepare()
    try:
        bal, workers = start(settings)
    except StartupError as e:
        # a start-up error is the one line an operator must find: under journald it goes at
        # error priority like every logged error (sd-daemon(3) prefix)
        print(f"{'<3>' if stderr_is_journal() else ''}pen: {e}", file=sys.stderr)
        return 1
    install_signals(bal, workers)
    assert bal.health is not None           # the daemon's Balancer runs the checks
    bal.health.start()                      # first probes now; accepting waits for them
    if workers is not None:
        spawn_when_proven(bal, workers)     # the workers accept once the probes are in
    history_glue.attach(bal)                # issue 5: load history for webstats
    interval = sdnotify.watchdog_interval()
    if interval:
        # pinged from the loop itself: a stuck loop stops the pings and systemd restarts pen
        def watchdog() -> None:
            sdnotify.notify("WATCHDOG=1")
        bal.reactor.every(interval, watchdog)
    # Start-up objects never die: move them out of the collector's way, and collect young
    # objects less often (connections are freed by reference counting, not by the collector).
    # The full collection (about 8 ms) runs once the loop is serving, not before the first
    # client (start-up time, issue 16).
    gc.set_threshold(50_000, 20, 50)
    bal.reactor.call_later(SETTLE_AFTER, _freeze_start_up_objects)
    sdnotify.notify("READY=1", f"STATUS=balancing on {bal.listen_text}", f"MAINPID={os.getpid()}")
    log.info("pen-ha started, listening on %s", bal.listen_text)
    try:
        bal.run()
    finally:
        sdnotify.notify("STOPPING=1")
        if workers is not None:
            workers.stop()
        bal.shutdown()
        if settings.pidfile:
            try:
                os.unlink(settings.pidfile)
            except OSError:
                pass
    return 0


def start(settings: Settings,
          clock: Callable[[], float] = time.monotonic) -> tuple[Balancer, Workers | None]:
    bal = build(settings, clock)
    from pen.engine import startup
    try:
        startup.run_startup_commands(bal, settings.commands, settings.config_file)
    except startup.ConfigError as e:
        raise StartupError(str(e)) from None
    try:
        bal.load_tls()
    except tls.TlsError as e:
        raise StartupError(str(e)) from None
    from pen.engine import geoipdb               # issue 11: country ACLs
    try:
        geoipdb.install(bal.state)
    except geoipdb.GeoDbError as e:
        raise StartupError(str(e)) from None
    if settings.dsr_if:                          # DSR: a raw socket instead of the listener
        from pen.engine import dsr               # imported only for DSR (start-up time)
        try:
            dsr.start(bal, settings.dsr_if, settings.listen or "")
        except dsr.DsrError as e:
            raise StartupError(str(e)) from None
    if bal.listen_sock is None and settings.takeover:
        try:
            sock, text = takeover.request(settings.takeover)
        except takeover.TakeoverError as e:
            raise StartupError(str(e)) from None
        bal.open_listener(settings.listen or text, sock)
    inherited, control_sock = adopt_listen_fds()
    if bal.listen_sock is None and not settings.dsr_if:
        if settings.listen:
            text = settings.listen
        elif inherited is not None:
            text = socket_address(inherited)
        else:
            raise StartupError("no listen address (give [host:]port, or `listen` in the -F file)")
        try:
            bal.open_listener(text, inherited)
        except (OSError, AddressError) as e:
            raise StartupError(f"cannot listen on {text}: {_why(e)}") from None
    if control_sock is not None:
        settings.control = socket_address(control_sock)     # the activated socket's address
    if settings.control:
        try:
            startup.open_control(bal, settings.control, control_sock)
        except (OSError, AddressError) as e:
            raise StartupError(f"cannot open control port {settings.control}: {_why(e)}") from None
    peer_shell = None
    if settings.peers or settings.peer_listen:    # imported only with peers (start-up time)
        from pen.engine import peers              # issue 17: key read, listener opened here
        try:
            peer_shell = peers.prepare(bal, settings)
        except peers.PeerError as e:
            raise StartupError(str(e)) from None
    workers = prepare_workers(bal, settings)      # their sockets, before privileges go
    if not settings.foreground:
        daemonize()
        setup_logging(settings, to_syslog=True)
    if peer_shell is not None:
        peer_shell.start()                        # after the fork, with the final store
    try:
        drop_privileges_and_files(bal, settings)
    except OSError as e:
        raise StartupError(_why(e)) from None
    return bal, workers


def prepare_workers(bal: Balancer, settings: Settings) -> Workers | None:
    """--workers N (N > 1): shared tables and one listener per worker (before privileges are
    dropped); this process keeps the control port, the health checks and the signals
    (docs/architecture.md "Workers").  Imported only then (and before any chroot)."""
    if settings.workers == 1:
        return None
    from pen.engine.worker import MainInterpreter
    from pen.engine.workers import Workers, cpu_count
    n = settings.workers or cpu_count()
    if n <= 1:
        return None
    if settings.dsr_if:
        raise StartupError("dsr_if: DSR runs in one process (no --workers)")
    sock = bal.listen_sock
    assert sock is not None
    reuseport = sock.family != socket.AF_UNIX and bool(
        sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT))
    if settings.udp and not reuseport:
        log.warning("--workers %d: the inherited UDP socket has no SO_REUSEPORT, so a flow "
                    "could not stay on one worker; one process serves it", n)
        return None
    workers = Workers(n, settings.clients_max)
    store = workers.store(bal.state, workers.main_row)
    store.initialise_from_config()
    bal.dispatcher.use_store(store)
    bal.detach_listener()
    try:
        workers.add_listeners(sock, reuseport, settings.backlog)
    except OSError as e:
        raise StartupError(f"cannot open the workers' listeners: {_why(e)}") from None
    bal.interp = MainInterpreter(bal, store, workers)
    bal.reactor.every(1.0, store.refresh_all)         # the history and -w see the sums
    return workers


def spawn_when_proven(bal: Balancer, workers: Workers) -> None:
    """Fork the workers once the start-up probes are in (the health checker holds accepts
    until then, bounded by the check timeout; clients wait in the listen backlog)."""
    if bal.health is not None and bal.health.holding():
        bal.reactor.call_later(0.01, lambda: spawn_when_proven(bal, workers))
    else:
        spawn_workers(bal, workers)


def spawn_workers(bal: Balancer, workers: Workers) -> None:
    """Fork the workers (after daemonizing, the pid file and dropping privileges)."""
    from pen.engine.worker import run_worker       # loaded by prepare_workers
    def spawn(slot: WorkerSlot) -> None:
        if not workers.stopping:
            workers.spawn(slot, lambda s: run_worker(bal, s, workers))
    workers.respawn = spawn
    for slot in workers.slots:
        spawn(slot)
    log.info("%d workers started (pids %s)", workers.n, " ".join(map(str, workers.pids())))


# Modules the engine imports where a connection or a run-time command first needs them, so
# that start-up imports only what its options use (issue 16).  A jail holds no Python library:
# a chrooted pen imports them all before the chroot (tests/unit/pen/engine/test_daemon.py
# checks that every import inside an engine function is here or is made before the chroot).
BEFORE_CHROOT = (
    "pen.engine.udp",                  # balancer.open_listener: -U, or `listen` at run time
    "pen.engine.proxyin",              # balancer.new_connection: accept_proxy
    "pen.core.formats.proxyproto",     # balancer.proxy_header: send_proxy
    "pen.engine.tlsaccept",            # balancer.admit: TLS termination (-E, reloaded on HUP)
    "pen.engine.dummy",                # balancer.start_client: penctl `dummy`
    "tempfile",                        # control_server.write_file: penctl `write`
)


def drop_privileges_and_files(bal: Balancer, settings: Settings) -> None:
    if settings.user:
        pw = pwd.getpwnam(settings.user)      # before chroot: /etc/passwd is outside the jail
    if settings.chroot:
        for name in BEFORE_CHROOT:
            importlib.import_module(name)
        os.chroot(settings.chroot)
        os.chdir("/")
    if settings.logfile:
        try:
            bal.set_log(settings.logfile)
        except OSError as e:
            raise OSError(e.errno, f"cannot open log {settings.logfile}: {e.strerror}") from None
    if settings.pidfile:
        with open(settings.pidfile, "w") as f:
            f.write(str(os.getpid()))
    if settings.user:
        become_user(pw.pw_uid, pw.pw_gid)      # groups first, then gid, then uid


def _why(e: Exception) -> str:
    if isinstance(e, OSError) and e.strerror:
        return f"{e.strerror}" + (f" ({e.filename})" if e.filename else "")
    return str(e)


SETTLE_AFTER = 0.5          # seconds after start-up: collect, then freeze, start-up objects


def _freeze_start_up_objects() -> None:
    gc.collect()
    gc.freeze()


def _respawner(workers: Workers, slot: WorkerSlot) -> Callable[[], None]:
    return lambda: workers.respawn(slot)


def install_signals(bal: Balancer, workers: Workers | None = None) -> None:
    """Handlers only set flags; the loop acts on them (as C pen; pen.engine.sigflags).
    With workers, HUP also goes on to them (their logs and TLS certificates; the -F file is
    re-read here and its commands forwarded), TERM stops them (after the loop), and a worker
    that dies is restarted (SIGCHLD)."""
    from pen.engine import startup
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    caught = [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2]
    if workers is None:
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    else:
        caught.append(signal.SIGCHLD)

    def act(signum: int) -> None:
        if signum in (signal.SIGTERM, signal.SIGINT):
            log.info("signal %d: exiting", signum)
            bal.reactor.stop()
        elif signum == signal.SIGHUP:
            sdnotify.notify("RELOADING=1", f"MONOTONIC_USEC={int(time.monotonic() * 1e6)}")
            startup.on_sighup(bal, reloaded)
        elif signum == signal.SIGUSR1:
            startup.on_usr1(bal)
        elif signum == signal.SIGUSR2:
            log.warning("SIGUSR2 ignored (C pen aborted and dumped core)")
        elif signum == signal.SIGCHLD and workers is not None:
            for slot in workers.reap():
                bal.reactor.call_later(workers.restart_delay(slot), _respawner(workers, slot))

    def reloaded() -> None:
        """The -F file is applied or refused: certificates, workers, then systemd is told."""
        bal.reload_tls()
        if workers is not None:
            workers.signal(signal.SIGHUP)
        sdnotify.notify("READY=1")

    on_signals(bal.reactor, caught, act)
