"""pen's options, declared once: the table both parsers read (pen(1) OPTIONS).

A valid command line is read with the standard library's GNU getopt, C pen's own parser
(glibc getopt, arguments permuted): click's import alone costs about 20 ms, a fifth of pen's
start-up (issue 16).  Everything else (`--help`, `--version`, a mistake to report, anything
the fast reading is not sure of) goes to the click command built from the same table, which
gives the usage, the help and the error messages; `parse_fast` returns None to ask for it.
The two readings give the same values: tests/unit/pen/test_cliopts.py compares them.
"""
from __future__ import annotations

import getopt
import os
from dataclasses import dataclass
from typing import Any, Callable

from pen.core.numbers import worker_count
from pen.settings import MAX_WORKERS

FLAG, VALUE, MANY, COUNT, SECONDS, WORKERS = "flag", "value", "many", "count", "seconds", "workers"
SECONDS_RANGE = (0.1, 3600.0)          # --tls-handshake-timeout


@dataclass(frozen=True)
class Opt:
    names: tuple[str, ...]
    dest: str
    kind: str = VALUE
    metavar: str | None = None
    help: str | None = None
    hidden: bool = False

    def absent(self) -> object:
        """The value click gives an option that is not on the command line."""
        return {FLAG: False, MANY: (), COUNT: 0}.get(self.kind)


OPTIONS: tuple[Opt, ...] = (
    Opt(("-B",), "abuse", metavar="host:port", help="Abuse server for clients denied by client_acl."),
    Opt(("-C",), "control", metavar="[host:]port|path",
        help="Control port for penctl (loopback unless a host is given)."),
    Opt(("-D",), "obs_D", FLAG, hidden=True),
    Opt(("-E",), "ssl_cert", metavar="certfile", help="Terminate TLS with this certificate (PEM)."),
    Opt(("-F",), "config_file", metavar="cfgfile", help="Config file of penctl commands, re-read on HUP."),
    Opt(("-G",), "ssl_ca_file", metavar="cacertfile", help="CA file to verify client certificates."),
    Opt(("-A",), "ssl_ca_dir", metavar="cacertdir", help="CA directory (hashed) for client certificates."),
    Opt(("-H",), "http", FLAG, help="Add X-Forwarded-For and X-Forwarded-Proto to HTTP requests."),
    Opt(("-K",), "ssl_key", metavar="keyfile", help="TLS private key (default: the certificate file)."),
    Opt(("-L",), "ssl_protocol", metavar="protocol", help="TLS protocol: ssl23, ssl2, ssl3, tls1."),
    Opt(("-N",), "obs_N", FLAG, hidden=True),
    Opt(("-O", "-o"), "commands", MANY, metavar="cmd", help="Run a penctl command at start-up (repeatable)."),
    Opt(("-P",), "use_poll", FLAG, help="Use poll (accepted for compatibility; pen uses epoll)."),
    Opt(("-Q",), "obs_Q", FLAG, hidden=True),
    Opt(("-R",), "ssl_require_client_cert", FLAG, help="Require a valid client certificate."),
    Opt(("-S",), "obs_S", metavar="N", hidden=True),
    Opt(("-T",), "tracking", metavar="sec", help="Client tracking time; 0 = forever.  [default: 0]"),
    Opt(("-U",), "udp", FLAG, help="UDP mode."),
    Opt(("-W",), "weight", FLAG, help="Weight-based server selection."),
    Opt(("-X",), "exit_enabled", FLAG, help="Enable the penctl `exit` command."),
    Opt(("-Z",), "ssl_compat", FLAG, help="TLS compatibility workarounds."),
    Opt(("-a",), "ascii", FLAG, help="Dump communication as ASCII (with -ddd)."),
    Opt(("-b",), "blacklist", metavar="sec", help="Blacklist time for failed servers.  [default: 30]"),
    Opt(("-c",), "clients_max", MANY, metavar="N",
        help="Client table size; only grows (the largest -c wins).  [default: 2048]"),
    Opt(("-d",), "debug", COUNT, help="Debug level (repeat for more)."),
    Opt(("-e",), "emergency", metavar="host:port", help="Emergency server of last resort."),
    Opt(("-f",), "foreground", FLAG, help="Stay in the foreground."),
    Opt(("-h",), "hash", FLAG, help="Hash-based server selection (not help!)."),
    Opt(("-i",), "win_service", metavar="name", hidden=True),
    Opt(("-j",), "chroot", metavar="dir", help="chroot to this directory."),
    Opt(("-l",), "logfile", metavar="file|host:port", help="Request log: a file, or penlogd over UDP."),
    Opt(("-m",), "multi_accept", metavar="N", help="Accepts per event.  [default: 100]"),
    Opt(("-n",), "obs_n", FLAG, hidden=True),
    Opt(("-p",), "pidfile", metavar="file", help="Write the pid to this file."),
    Opt(("-q",), "backlog", metavar="N", help="Listen backlog.  [default: 500]"),
    Opt(("-r",), "roundrobin", FLAG, help="Round robin without client tracking."),
    Opt(("-s",), "stubborn", FLAG, help="Stubborn: never fail over."),
    Opt(("-t",), "timeout", metavar="sec", help="Connect timeout.  [default: 3]"),
    Opt(("-u",), "user", metavar="user", help="Run as this user after opening the sockets."),
    Opt(("-w",), "web_stats", metavar="file", help="HTML status file, written on USR1 and `status`."),
    Opt(("-x",), "conn_max", MANY, metavar="N", help="Maximum simultaneous connections.  [default: 500]"),
    Opt(("--tls-handshake-timeout",), "tls_handshake_timeout", SECONDS, metavar="sec",
        help="Close a TLS client that has not finished its handshake in this time (no server is "
             "contacted before).  [default: 10]"),
    Opt(("--takeover",), "takeover", metavar="CONTROL_PATH",
        help="Seamless restart: take the listening socket from the pen whose unix control socket "
             "this is; it finishes its connections and exits."),
    Opt(("--confine",), "confine", MANY, metavar="DIR",
        help="Directory the run-time commands write, log, web_stats and include may use (repeatable; "
             "default: the directories of -F, -l and -w).  See docs/security.md."),
    Opt(("--workers",), "workers", WORKERS, metavar="N|auto",
        help="Worker processes sharing the listener and pen's tables (auto: one per core).  [default: 1]"),
    Opt(("--peer",), "peers", MANY, metavar="HOST:PORT",
        help="Another node's peer listener: this pen sends it its client table, so a client keeps its "
             "server across a failover (repeatable; docs/peers.md)."),
    Opt(("--peer-listen",), "peer_listen", metavar="[HOST:]PORT",
        help="Accept the other nodes' client tables here (beyond loopback only with --peer-key)."),
    Opt(("--peer-key",), "peer_key", metavar="FILE",
        help="The shared secret authenticating every peer message (HMAC-SHA256); the same file on every "
             "node, at least 16 bytes."),
)

_BY_NAME = {name: opt for opt in OPTIONS for name in opt.names}
_TAKES_VALUE = (VALUE, MANY, SECONDS, WORKERS)
_SHORT = "".join(n[1] + (":" if o.kind in _TAKES_VALUE else "")
                 for o in OPTIONS for n in o.names if len(n) == 2)
_LONG_NAMES = frozenset(n[2:] for n in _BY_NAME if n.startswith("--"))
_LONG = [n[2:] + ("=" if o.kind in _TAKES_VALUE else "")
         for o in OPTIONS for n in o.names if n.startswith("--")]


def workers_value(text: str | None) -> int | None:
    """--workers N|auto; None for a value that is neither (the click path reports it)."""
    return None if text is None else worker_count(text, MAX_WORKERS)


def seconds_value(text: str) -> float | None:
    """--tls-handshake-timeout as click's FloatRange reads it; None when out of range."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if SECONDS_RANGE[0] <= value <= SECONDS_RANGE[1] else None


def parse_fast(argv: list[str]) -> tuple[tuple[str, ...], dict[str, Any]] | None:
    """(arguments, options) as click's command gives them, or None where click must read the
    command line: help, version, an unknown or abbreviated long option (getopt accepts
    prefixes, click does not), POSIXLY_CORRECT (getopt would stop at the first argument),
    or a value the option refuses."""
    if "POSIXLY_CORRECT" in os.environ:
        return None
    for arg in argv:
        if arg == "--":
            break
        if arg.startswith("--") and arg[2:].split("=", 1)[0] not in _LONG_NAMES:
            return None
    try:
        pairs, args = getopt.gnu_getopt(argv, _SHORT, _LONG)
    except getopt.GetoptError:
        return None
    opts: dict[str, Any] = {o.dest: o.absent() for o in OPTIONS}
    for name, text in pairs:
        opt = _BY_NAME[name]
        value: object = text
        if opt.kind == FLAG:
            value = True
        elif opt.kind == COUNT:
            value = opts[opt.dest] + 1
        elif opt.kind == MANY:
            value = (*opts[opt.dest], text)
        elif opt.kind == SECONDS:
            value = seconds_value(text)
        elif opt.kind == WORKERS:
            value = workers_value(text)
        if value is None:
            return None
        opts[opt.dest] = value
    return tuple(args), opts


def click_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The click options of the table, in its order, on `command` (imports click)."""
    import click

    def workers(_ctx: click.Context, _param: click.Parameter, value: str | None) -> int | None:
        n = workers_value(value)
        if value is not None and n is None:
            raise click.BadParameter(f"'{value}': give 1-{MAX_WORKERS} or auto", param_hint="--workers")
        return n

    for opt in reversed(OPTIONS):
        extra: dict[str, Any] = {}
        if opt.kind == FLAG:
            extra["is_flag"] = True
        elif opt.kind == COUNT:
            extra["count"] = True
        elif opt.kind == MANY:
            extra["multiple"] = True
        elif opt.kind == SECONDS:
            extra["type"] = click.FloatRange(*SECONDS_RANGE)
        elif opt.kind == WORKERS:
            extra["callback"] = workers
        command = click.option(*opt.names, opt.dest, metavar=opt.metavar, help=opt.help,
                               hidden=opt.hidden, **extra)(command)
    return command
