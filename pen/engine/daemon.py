"""Process life: start-up order, daemon, pid file, chroot, user, signals (spec/pen-0.34.md §1.4, §7).

Start-up, in order: resolve the command-line servers, run -o/-O commands and the -F file (so
the file refines the command line; C pen did it the other way round and let the command line
overwrite the file, §4.3), open the listener (or adopt systemd's, LISTEN_FDS), open the control
port, daemonize unless -f, chroot, open the log, write the pid file, drop privileges, run.
Errors before the loop starts are reported on stderr and exit 1: nothing runs half-configured.
"""
from __future__ import annotations

import gc
import logging
import logging.handlers
import os
import signal
import socket
import sys
import time

import pwd

from pen.core.addr import AddressError
from pen.core.servers import ABUSE, EMERGENCY
from pen.core.state import PenState
from pen.engine import sdnotify, takeover, tls
from pen.engine.balancer import Balancer
from pen.engine.logsink import is_network_target
from pen.procutil import daemonize, log_handler
from pen.settings import Settings

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


def build(settings: Settings) -> Balancer:
    state = PenState(settings)
    bal = Balancer(state)
    try:
        for index, spec in enumerate(settings.server_specs):
            bal.apply_server_spec(index, spec)
        for attr, spec in (("emergency", settings.emergency), ("abuse", settings.abuse)):
            if spec:
                srv = bal.apply_server_spec(EMERGENCY if attr == "emergency" else ABUSE, spec)
                setattr(state.servers, attr, srv)
    except AddressError as e:
        raise StartupError(str(e)) from None
    return bal


def adopt_listen_fds() -> socket.socket | None:
    """systemd socket activation: fd 3 when LISTEN_FDS is set for this process."""
    fds = os.environ.get("LISTEN_FDS")
    pid = os.environ.get("LISTEN_PID")
    if not fds or (pid and pid != str(os.getpid())):
        return None
    for var in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"):
        os.environ.pop(var, None)
    if int(fds) < 1:
        return None
    sock = socket.socket(fileno=3)
    sock.setblocking(False)
    return sock


def absolute_paths(settings: Settings) -> None:
    """Relative -l/-p/-w/-F paths stay relative to where pen was started, even as a daemon
    (C pen resolved them against / after daemonizing, §1.4)."""
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
        bal = start(settings)
    except StartupError as e:
        print(f"pen: {e}", file=sys.stderr)
        return 1
    install_signals(bal)
    from pen.engine import history_glue     # issue 5: load history for webstats
    history_glue.attach(bal)
    interval = sdnotify.watchdog_interval()
    if interval:
        # pinged from the loop itself: a stuck loop stops the pings and systemd restarts pen
        bal.reactor.every(interval, lambda: sdnotify.notify("WATCHDOG=1"))
    # Start-up objects never die: move them out of the collector's way, and collect young
    # objects less often (connections are freed by reference counting, not by the collector).
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 50)
    sdnotify.notify("READY=1", f"STATUS=balancing on {bal.listen_text}", f"MAINPID={os.getpid()}")
    log.info("pen-ha started, listening on %s", bal.listen_text)
    try:
        bal.run()
    finally:
        sdnotify.notify("STOPPING=1")
        bal.shutdown()
        if settings.pidfile:
            try:
                os.unlink(settings.pidfile)
            except OSError:
                pass
    return 0


def start(settings: Settings) -> Balancer:
    bal = build(settings)
    from pen.engine import startup
    try:
        startup.run_startup_commands(bal, settings.commands, settings.config_file)
    except startup.ConfigError as e:
        raise StartupError(str(e)) from None
    try:
        bal.load_tls()
    except tls.TlsError as e:
        raise StartupError(str(e)) from None
    from pen.engine import dsr, geoipdb          # issue 11: country ACLs, DSR
    try:
        geoipdb.install(bal.state)
    except geoipdb.GeoDbError as e:
        raise StartupError(str(e)) from None
    if settings.dsr_if:                          # DSR: a raw socket instead of the listener
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
    if bal.listen_sock is None and not settings.dsr_if:
        inherited = adopt_listen_fds()
        if inherited is None and not settings.listen:
            raise StartupError("no listen address (give [host:]port, or `listen` in the -F file)")
        try:
            bal.open_listener(settings.listen or "", inherited)
        except (OSError, AddressError) as e:
            raise StartupError(f"cannot listen on {settings.listen}: {_why(e)}") from None
    if settings.control:
        try:
            startup.open_control(bal, settings.control)
        except (OSError, AddressError) as e:
            raise StartupError(f"cannot open control port {settings.control}: {_why(e)}") from None
    if not settings.foreground:
        daemonize()
        setup_logging(settings, to_syslog=True)
    try:
        drop_privileges_and_files(bal, settings)
    except OSError as e:
        raise StartupError(_why(e)) from None
    return bal


def drop_privileges_and_files(bal: Balancer, settings: Settings) -> None:
    if settings.user:
        pw = pwd.getpwnam(settings.user)      # before chroot: /etc/passwd is outside the jail
    if settings.chroot:
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
        os.setgroups([])
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)


def _why(e: Exception) -> str:
    if isinstance(e, OSError) and e.strerror:
        return f"{e.strerror}" + (f" ({e.filename})" if e.filename else "")
    return str(e)


def install_signals(bal: Balancer) -> None:
    """Handlers only set flags; the loop acts on them (as C pen, §7).  A wakeup fd makes the
    epoll wait return at once."""
    from pen.engine import startup
    rfd, wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wfd, warn_on_full_buffer=False)
    flags: dict[int, bool] = {}

    def handler(signum: int, frame: object) -> None:
        flags[signum] = True

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, handler)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)

    def on_wakeup(ev: int) -> None:
        try:
            while os.read(rfd, 512):
                pass
        except BlockingIOError:
            pass

    def dispatch() -> None:
        if not flags:
            return
        pending = list(flags)
        flags.clear()
        for signum in pending:
            if signum in (signal.SIGTERM, signal.SIGINT):
                log.info("signal %d: exiting", signum)
                bal.reactor.stop()
            elif signum == signal.SIGHUP:
                sdnotify.notify("RELOADING=1", f"MONOTONIC_USEC={int(time.monotonic() * 1e6)}")
                startup.on_sighup(bal)
                bal.reload_tls()
                sdnotify.notify("READY=1")
            elif signum == signal.SIGUSR1:
                startup.on_usr1(bal)
            elif signum == signal.SIGUSR2:
                log.warning("SIGUSR2 ignored (C pen aborted and dumped core)")

    bal.reactor.add(rfd, 1, on_wakeup)
    bal.reactor.idle_hooks.append(dispatch)
