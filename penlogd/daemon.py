"""penlogd: merge pen's request entries with the web servers' log lines, live (penlogd(1)).

The I/O shell: one UDP socket, a selectors loop, signals through a wakeup fd.  Every decision
is `penlogd.matcher.Matcher`'s.  See docs/penlogd.md.
"""
from __future__ import annotations

import codecs
import logging
import logging.handlers
import os
import selectors
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

import click

from pen.core.formats.accesslog import is_pen_datagram, parse_datagram
from pen.core.numbers import ascii_decimal
from pen.engine import sdnotify    # os and socket only: no engine comes with it
from pen.procutil import become_user, daemonize, log_handler
from pen.version import version_option
from penlogd.matcher import Matcher
from penlogd.senders import DEFAULT_ALLOW, Senders, parse_networks

log = logging.getLogger("penlogd")
USAGE = """Usage:
  penlogd [options] port

  -d        debugging on
  -f        stay in foreground
  -j dir    run in chroot
  -l file   write log to file
  -b        unbuffer output (Testing Only!)
  -n N      number of pen log entries to cache [1000]
  -p file   write pid to file
  -u user   run as alternative user
"""
MAX_DATAGRAM = 65535
BATCH = 512          # datagrams read per wakeup before the output is flushed


@dataclass(slots=True)
class Output:
    """The merged log: a file reopened on HUP (logrotate), or stdout."""

    path: str | None
    line_buffered: bool
    fp: TextIO = field(init=False)

    def __post_init__(self) -> None:
        self.fp = self._open()

    def _open(self) -> TextIO:
        if self.path is None:
            return open(sys.stdout.fileno(), "w", encoding="latin-1", errors="replace",
                        closefd=False, buffering=1 if self.line_buffered else -1)
        return open(self.path, "a", encoding="latin-1", errors="replace",
                    buffering=1 if self.line_buffered else -1)

    def write(self, lines: list[str]) -> None:
        for line in lines:
            self.fp.write(line + "\n")

    def reopen(self) -> None:
        """HUP: a new file at the same path; on failure keep writing to the old one."""
        try:
            fp = self._open()
        except OSError as err:
            log.error("cannot reopen %s: %s; keeping the old file", self.path, err)
            return
        self.fp.close()
        self.fp = fp

    def close(self) -> None:
        self.fp.flush()
        self.fp.close()


@dataclass(slots=True)
class Flags:
    """Set by the signal handlers, acted on by the loop (HUP reopens, TERM flushes and stops)."""

    hup: bool = False
    stop: bool = False

    def on_hup(self, _sig: int, _frame: object) -> None:
        self.hup = True

    def on_term(self, _sig: int, _frame: object) -> None:
        self.stop = True


@dataclass(slots=True)
class Daemon:
    sock: socket.socket
    matcher: Matcher
    senders: Senders
    out: Output
    flags: Flags

    def on_datagram(self, data: bytes, addr: str) -> None:
        if not self.senders.allowed(addr):
            if self.senders.refuse(addr):
                log.warning("ignoring datagram from %s (not an allowed sender, see --allow);"
                            " %d so far", addr, self.senders.refused[addr])
            return
        now = time.monotonic()
        if is_pen_datagram(data):
            entry = parse_datagram(data)
            if entry is None:
                self.matcher.counters.bogus_pen += 1
                log.warning("discarding bogus pen line %r (%d so far)", data[:200],
                            self.matcher.counters.bogus_pen)
                return
            self.out.write(self.matcher.add_pen(entry, now))
            return
        for line in data.decode("latin-1").split("\n"):
            self.out.write(self.matcher.add_web(line, addr, now))

    def read_batch(self) -> None:
        for _ in range(BATCH):
            try:
                data, peer = self.sock.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as err:          # e.g. an ICMP error queued on the socket
                log.debug("receive error: %s", err)
                continue
            try:
                self.on_datagram(data, peer[0])
            except Exception:               # no datagram may stop the daemon (issue 18)
                self.matcher.counters.failed += 1
                log.exception("datagram from %s (%d bytes) skipped; %d so far", peer[0],
                              len(data), self.matcher.counters.failed)

    def run(self, wakeup: socket.socket) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self.sock, selectors.EVENT_READ, "sock")
        sel.register(wakeup, selectors.EVENT_READ, "wake")
        while not self.flags.stop:
            deadline = self.matcher.next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            events = sel.select(timeout)
            if self.flags.hup:          # before reading: what arrives after HUP goes to the new file
                self.flags.hup = False
                log.debug("reopening log file %s", self.out.path)
                self.out.reopen()
            for key, _ in events:
                if key.data == "wake":
                    try:
                        wakeup.recv(512)
                    except BlockingIOError:
                        pass
                else:
                    self.read_batch()
            self.out.write(self.matcher.expire(time.monotonic()))
            self.out.fp.flush()   # a batch is done: never sit on lines (C loses them on a crash)
        self.out.write(self.matcher.drain())
        c = self.matcher.counters
        log.debug("exit: %d pen entries, %d web lines (%d by connection, %d by request,"
                  " %d unmatched, %d unparsed), %d bogus pen datagrams, %d failed",
                  c.pen_entries, c.web_lines, c.matched_conn, c.matched_request, c.unmatched,
                  c.unparsed, c.bogus_pen, c.failed)


def _setup_logging(debug: int, foreground: bool) -> None:
    level = logging.DEBUG if debug else logging.WARNING
    log.handlers[:] = [log_handler("penlogd", foreground)]
    log.setLevel(level)


def _bind(host: str, port: int) -> socket.socket:
    info = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(info[0], socket.SOCK_DGRAM)
    if info[0] == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    for opt in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):
        if opt is None:
            continue
        try:   # bursts of hundreds of requests must not overflow the default ~200 KiB
            sock.setsockopt(socket.SOL_SOCKET, opt, 8 << 20)
            break
        except OSError:
            continue
    sock.bind(info[4])
    sock.setblocking(False)
    return sock


def _write_port(path: str, port: int) -> None:
    """Atomically: whoever sees the file sees the whole port."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{port}\n")
    os.replace(tmp, path)


def _fail(msg: str) -> None:
    click.echo(f"penlogd: {msg}", err=True)
    sys.exit(1)


@click.command(context_settings={"help_option_names": ["--help"]})
@click.option("-d", "debug", count=True, help="Debugging on (repeat for more).")
@click.option("-f", "foreground", is_flag=True, help="Stay in foreground.")
@click.option("-b", "unbuffer", is_flag=True, help="Line-buffered output.")
@click.option("-j", "jail", metavar="DIR", help="Run in chroot DIR.")
@click.option("-l", "logfile", metavar="FILE", help="Write the merged log to FILE (default stdout).")
@click.option("-n", "cache", type=int, default=1000, show_default=True,
              help="Number of pen log entries to cache.")
@click.option("-p", "pidfile", metavar="FILE", help="Write pid to FILE.")
@click.option("-u", "user", metavar="USER", help="Run as alternative user.")
@click.option("--listen", default="0.0.0.0", show_default=True,
              help="Address to bind (C: always 0.0.0.0); '::' for IPv6 and IPv4.")
@click.option("-a", "--allow", "allow", multiple=True, metavar="NET",
              help="Accept datagrams from this address or network (repeatable; 'any' for "
                   "everyone). Default: loopback only.")
@click.option("--hold", type=float, default=1.0, show_default=True,
              help="Seconds an unmatched web line waits for pen's entry (0: C's behaviour).")
@click.option("--port-file", metavar="FILE", help="Write the bound UDP port to FILE (for port 0).")
@version_option("penlogd")
@click.argument("port", required=False)
def main(debug: int, foreground: bool, unbuffer: bool, jail: str | None, logfile: str | None,
         cache: int, pidfile: str | None, user: str | None, listen: str, allow: tuple[str, ...],
         hold: float, port_file: str | None, port: str | None) -> None:
    """Receive pen's log entries and the web servers' log lines on UDP PORT, write the web
    lines with the real client address.  PORT 0 picks a free port (see --port-file)."""
    number = ascii_decimal(port, 5) if port is not None else None
    if number is None or number > 65535:
        click.echo(USAGE, nl=False)
        sys.exit(0)
    if cache < 1:
        _fail(f"-n must be at least 1, not {cache}")
    try:
        senders = Senders(parse_networks(allow or DEFAULT_ALLOW))
    except ValueError as err:
        _fail(str(err))
    _setup_logging(debug, foreground)
    pwd = None
    if user:
        import pwd as pwdmod
        try:
            pwd = pwdmod.getpwnam(user)
        except KeyError:
            _fail(f"Can't getpwnam({user})")
    try:
        sock = _bind(listen, number)
    except OSError as err:
        _fail(f"cannot bind UDP {listen}:{port}: {err}")
    bound = sock.getsockname()[1]
    if not foreground:
        daemonize(keep_stdout=True)   # stdout may be the merged log
    flags = Flags()
    wake_r, wake_w = socket.socketpair()
    wake_r.setblocking(False)
    wake_w.setblocking(False)
    signal.set_wakeup_fd(wake_w.fileno(), warn_on_full_buffer=False)
    signal.signal(signal.SIGHUP, flags.on_hup)
    signal.signal(signal.SIGTERM, flags.on_term)
    signal.signal(signal.SIGINT, flags.on_term)
    if port_file and jail:      # outside the jail; otherwise written last, as the ready signal
        _write_port(port_file, bound)
    sdnotify.prepare()          # $NOTIFY_SOCKET lies outside the jail
    if jail:
        os.chroot(jail)
        os.chdir("/")
    if pwd is not None:
        codecs.lookup("latin-1")    # loaded now: the interpreter's files may be root's only
        become_user(pwd.pw_uid, pwd.pw_gid)     # supplementary groups too, as pen does
    try:
        out = Output(logfile, unbuffer)
    except OSError as err:
        _fail(f"Can't open logfile {logfile}: {err}")
    if pidfile:
        try:
            with open(pidfile, "w") as f:
                f.write(str(os.getpid()))
        except OSError as err:
            _fail(f"Can't create pidfile {pidfile}: {err}")
    log.debug("listening on UDP %s:%d", listen, bound)
    if port_file and not jail:
        _write_port(port_file, bound)
    daemon = Daemon(sock, Matcher(capacity=cache, hold=max(0.0, hold)), senders, out, flags)
    # Type=notify (deploy/systemd/penlogd.service): units ordered after penlogd start only once
    # the socket is bound and the merged log open
    sdnotify.notify("READY=1", f"STATUS=merging on UDP {listen}:{bound}", f"MAINPID={os.getpid()}")
    try:
        daemon.run(wake_r)
    finally:
        sdnotify.notify("STOPPING=1")
        out.close()
        if pidfile:
            try:
                os.unlink(pidfile)
            except OSError:
                pass
    sys.exit(0)
