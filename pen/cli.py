"""`pen`: the command line, option for option C pen 0.34.1's (pen(1) OPTIONS).

    pen [options] [host:]port|/path/to/socket server1 [server2 ...]

`-h` is hash, not help (use --help).  Numbers are read with C's atoi, so command lines that ran
under C pen run (text that is not a number is named on stderr).  Where C pen printed its usage
and exited 0 (unknown option, no listen address, -t below 1), and for a bad address, we say
exactly what is wrong and exit 2.
"""
from __future__ import annotations

import os
import sys

import click

from pen.core.addr import AddressError, parse_listen, parse_server
from pen.core.numbers import ascii_decimal, c_atoi, worker_count
from pen.core.peers import options as peer_options
from pen.settings import (DSR_PSEUDO_PORT, MAX_CLIENTS, MAX_CONNS, MAX_WORKERS, MIN_BACKLOG,
                          Settings, dsr_all_ports)
from pen.version import C_PEN_VERSION, version_option

OBSOLETE = {
    "D": "Pen 0.26.0 removed the delayed forward feature,\nmaking the -D option obsolete",
    "n": "Pen 0.26.0 and up uses only nonblocking sockets,\nmaking the -n option obsolete",
    "Q": "Since Pen 0.26.0, kqueue is already the default on supported systems,\n"
         "making the -Q option obsolete",
    "S": "As of 0.28.1 the server table is expanded dynamically,\nmaking the -S option obsolete",
}
SSL_PROTOCOLS = ("ssl23", "ssl2", "ssl3", "tls1")

EPILOG = """\b
Server specs: host[:port[:maxc[:hard[:weight[:prio]]]]], [v6addr]:port..., /unix/path.
Listen address: [host:]port, [v6addr]:port, or /unix/path.
Run-time control: penctl ADDR COMMAND (see `penctl --help`)."""


def c_number(letter: str, text: str) -> int:
    """A numeric option read as C pen reads it, with `atoi` (pen(1) OPTIONS): `-b x` is
    0, `-c 5x` is 5.  Command lines that ran under C pen run here; text that is not a plain
    number is read the same way but named on stderr, so the slip is visible."""
    value = c_atoi(text)
    if ascii_decimal(text.removeprefix("-")) is None:
        click.echo(f"pen: -{letter} '{text}' is not a number; read as {value}, as C pen "
                   "does", err=True)
    return value


def grown(letter: str, texts: tuple[str, ...], default: int, ceiling: int) -> int:
    """-c and -x grow a table that never shrinks: the largest value wins, 0 and (for -c)
    negative values leave the default (C pen: `-c 0` is 2048, `-c 100 -c 50` is 100)."""
    size = 0
    for text in texts:
        n = c_number(letter, text)
        if n < 0 and letter == "x":       # C pen: "Can't realloc", exit 1
            raise click.UsageError(f"-x {text}: a connection table cannot be negative")
        if n > ceiling:
            raise click.UsageError(f"-{letter} {text}: over the maximum {ceiling}")
        size = max(size, n)
    return size or default


@click.command(context_settings={"help_option_names": ["--help"], "max_content_width": 100},
               epilog=EPILOG)
@click.option("-B", "abuse", metavar="host:port", help="Abuse server for clients denied by client_acl.")
@click.option("-C", "control", metavar="[host:]port|path",
              help="Control port for penctl (loopback unless a host is given).")
@click.option("-D", "obs_D", is_flag=True, hidden=True)
@click.option("-E", "ssl_cert", metavar="certfile", help="Terminate TLS with this certificate (PEM).")
@click.option("-F", "config_file", metavar="cfgfile", help="Config file of penctl commands, re-read on HUP.")
@click.option("-G", "ssl_ca_file", metavar="cacertfile", help="CA file to verify client certificates.")
@click.option("-A", "ssl_ca_dir", metavar="cacertdir", help="CA directory (hashed) for client certificates.")
@click.option("-H", "http", is_flag=True, help="Add X-Forwarded-For and X-Forwarded-Proto to HTTP requests.")
@click.option("-K", "ssl_key", metavar="keyfile", help="TLS private key (default: the certificate file).")
@click.option("-L", "ssl_protocol", metavar="protocol", help="TLS protocol: ssl23, ssl2, ssl3, tls1.")
@click.option("-N", "obs_N", is_flag=True, hidden=True)
@click.option("-O", "-o", "commands", multiple=True, metavar="cmd",
              help="Run a penctl command at start-up (repeatable).")
@click.option("-P", "use_poll", is_flag=True, help="Use poll (accepted for compatibility; pen uses epoll).")
@click.option("-Q", "obs_Q", is_flag=True, hidden=True)
@click.option("-R", "ssl_require_client_cert", is_flag=True, help="Require a valid client certificate.")
@click.option("-S", "obs_S", metavar="N", hidden=True)
@click.option("-T", "tracking", metavar="sec",
              help="Client tracking time; 0 = forever.  [default: 0]")
@click.option("-U", "udp", is_flag=True, help="UDP mode.")
@click.option("-W", "weight", is_flag=True, help="Weight-based server selection.")
@click.option("-X", "exit_enabled", is_flag=True, help="Enable the penctl `exit` command.")
@click.option("-Z", "ssl_compat", is_flag=True, help="TLS compatibility workarounds.")
@click.option("-a", "ascii", is_flag=True, help="Dump communication as ASCII (with -ddd).")
@click.option("-b", "blacklist", metavar="sec",
              help="Blacklist time for failed servers.  [default: 30]")
@click.option("-c", "clients_max", multiple=True, metavar="N",
              help="Client table size; only grows (the largest -c wins).  [default: 2048]")
@click.option("-d", "debug", count=True, help="Debug level (repeat for more).")
@click.option("-e", "emergency", metavar="host:port", help="Emergency server of last resort.")
@click.option("-f", "foreground", is_flag=True, help="Stay in the foreground.")
@click.option("-h", "hash", is_flag=True, help="Hash-based server selection (not help!).")
@click.option("-i", "win_service", metavar="name", hidden=True)
@click.option("-j", "chroot", metavar="dir", help="chroot to this directory.")
@click.option("-l", "logfile", metavar="file|host:port", help="Request log: a file, or penlogd over UDP.")
@click.option("-m", "multi_accept", metavar="N", help="Accepts per event.  [default: 100]")
@click.option("-n", "obs_n", is_flag=True, hidden=True)
@click.option("-p", "pidfile", metavar="file", help="Write the pid to this file.")
@click.option("-q", "backlog", metavar="N", help="Listen backlog.  [default: 500]")
@click.option("-r", "roundrobin", is_flag=True, help="Round robin without client tracking.")
@click.option("-s", "stubborn", is_flag=True, help="Stubborn: never fail over.")
@click.option("-t", "timeout", metavar="sec",
              help="Connect timeout.  [default: 3]")
@click.option("-u", "user", metavar="user", help="Run as this user after opening the sockets.")
@click.option("-w", "web_stats", metavar="file", help="HTML status file, written on USR1 and `status`.")
@click.option("-x", "conn_max", multiple=True, metavar="N",
              help="Maximum simultaneous connections.  [default: 500]")
@click.option("--tls-handshake-timeout", "tls_handshake_timeout", type=click.FloatRange(0.1, 3600.0),
              metavar="sec", help="Close a TLS client that has not finished its handshake in "
                                  "this time (no server is contacted before).  [default: 10]")
@click.option("--takeover", "takeover", metavar="CONTROL_PATH",
              help="Seamless restart: take the listening socket from the pen whose unix "
                   "control socket this is; it finishes its connections and exits.")
@click.option("--confine", "confine", multiple=True, metavar="DIR",
              help="Directory the run-time commands write, log, web_stats and include may use "
                   "(repeatable; default: the directories of -F, -l and -w).  See docs/security.md.")
@click.option("--workers", "workers", callback=lambda ctx, param, value: _workers(value),
              metavar="N|auto", help="Worker processes sharing the listener and pen's tables "
              "(auto: one per core).  [default: 1]")
@click.option("--peer", "peers", multiple=True, metavar="HOST:PORT",
              help="Another node's peer listener: this pen sends it its client table, so a "
                   "client keeps its server across a failover (repeatable; docs/peers.md).")
@click.option("--peer-listen", "peer_listen", metavar="[HOST:]PORT",
              help="Accept the other nodes' client tables here (beyond loopback only with "
                   "--peer-key).")
@click.option("--peer-key", "peer_key", metavar="FILE",
              help="The shared secret authenticating every peer message (HMAC-SHA256); the "
                   "same file on every node, at least 16 bytes.")
@version_option("pen", f"compatible with pen {C_PEN_VERSION}")
@click.argument("args", nargs=-1, metavar="[host:]port|path SERVER...")
def command(args: tuple[str, ...], **opts: object) -> None:
    """pen: a load balancer for TCP and UDP services, compatible with pen 0.34.1."""
    settings = build_settings(args, opts)
    from pen.engine.daemon import run
    sys.exit(run(settings))


def _workers(value: str | None) -> int | None:
    if value is None:
        return None
    n = worker_count(value, MAX_WORKERS)
    if n is None:
        raise click.BadParameter(f"'{value}': give 1-{MAX_WORKERS} or auto", param_hint="--workers")
    return n


def build_settings(args: tuple[str, ...], opts: dict) -> Settings:
    """Check every option and value; exit with a clear message on the first bad one."""
    for letter in "DnQS":
        if opts.pop(f"obs_{letter}"):
            click.echo(OBSOLETE[letter], err=True)
    if opts.pop("obs_N"):
        raise click.UsageError("-N (hash without saving the server) was never implemented; "
                               "use -h -r to hash on address and port")
    if opts.pop("win_service") is not None:
        raise click.UsageError("-i: Windows only")
    s = Settings()
    s.clients_max = grown("c", opts.pop("clients_max"), s.clients_max, MAX_CLIENTS)
    s.conn_max = grown("x", opts.pop("conn_max"), s.conn_max, MAX_CONNS)
    for key, letter in (("tracking", "T"), ("blacklist", "b"), ("timeout", "t"),
                        ("multi_accept", "m"), ("backlog", "q")):
        if opts[key] is not None:
            opts[key] = c_number(letter, opts[key])
    for key, letter in (("tracking", "T"), ("blacklist", "b")):
        if opts[key] is not None and opts[key] < 0:     # C keeps -1; it acts as 0 there too
            click.echo(f"pen: -{letter} {opts[key]} is negative; using 0", err=True)
            opts[key] = 0
    if opts["timeout"] is not None and opts["timeout"] < 1:    # C prints its usage
        raise click.UsageError(f"-t {opts['timeout']}: the connect timeout must be at least 1")
    for key, value in opts.items():
        if value is None or value is False or value == () or key == "debug" and value == 0:
            continue
        if key == "commands":
            s.commands = list(value)
        elif key == "peers":            # issue 17
            s.peers = list(value)
        elif key == "confine":          # issue 10; inside the jail with -j, as -l and -w
            s.confine.dirs = [d if opts.get("chroot") else os.path.abspath(d) for d in value]
        else:
            setattr(s, key, value)
    if s.multi_accept < 1:
        click.echo("multi_accept bumped to 1", err=True)
        s.multi_accept = 1
    if s.backlog < MIN_BACKLOG:
        click.echo(f"listen_queue bumped to {MIN_BACKLOG}", err=True)
        s.backlog = MIN_BACKLOG
    if s.ssl_protocol is not None and s.ssl_protocol not in SSL_PROTOCOLS:
        raise click.UsageError(f"protocol version {s.ssl_protocol} not known "
                               f"(use one of {', '.join(SSL_PROTOCOLS)})")
    if s.user is not None:
        import pwd
        try:
            pwd.getpwnam(s.user)
        except KeyError:
            raise click.UsageError(f"-u: no such user '{s.user}'") from None
    if args:
        s.listen = args[0]
        s.server_specs = list(args[1:])
    elif not s.config_file and "listen" not in os.environ.get("LISTEN_FDNAMES", "").split(":"):
        raise click.UsageError("no listen address: give [host:]port and at least one server, "
                               "or a -F file with a `listen` line")
    try:
        default_port = ""
        if s.listen and dsr_all_ports(s):
            default_port = DSR_PSEUDO_PORT
        elif s.listen:
            ep = parse_listen(s.listen)
            default_port = "" if ep.unix else ep.port
        for spec in s.server_specs:
            parse_server(spec, default_port)
        for what, extra in (("-e", s.emergency), ("-B", s.abuse)):
            if extra:
                try:
                    parse_server(extra, default_port)
                except AddressError as e:
                    raise AddressError(f"{what}: {e}") from None
        if s.control:
            parse_listen(s.control, default_host="127.0.0.1")
    except AddressError as e:
        raise click.UsageError(str(e)) from None
    if s.peer_key is not None:
        s.peer_key = os.path.abspath(s.peer_key)
    try:    # the key rule waits for the -F file (pen.engine.peers.start)
        peer_options.check(s.peers, s.peer_listen, s.peer_key or ("" if s.config_file else None))
    except peer_options.PeerConfigError as e:
        raise click.UsageError(str(e)) from None
    return s


def main() -> None:
    command.main(prog_name="pen")


if __name__ == "__main__":
    main()
