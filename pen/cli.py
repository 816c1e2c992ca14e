"""`pen`: the command line, option for option C pen 0.34.1's (spec/pen-0.34.md §1.4).

    pen [options] [host:]port|/path/to/socket server1 [server2 ...]

`-h` is hash, not help (use --help).  Unlike C pen, which printed its usage and exited 0, a bad
option or value says exactly what is wrong and exits non-zero.
"""
from __future__ import annotations

import os
import sys

import click

from pen import C_PEN_VERSION, __version__
from pen.core.addr import AddressError, parse_listen, parse_server
from pen.settings import (DSR_PSEUDO_PORT, MAX_CLIENTS, MAX_CONNS, MIN_BACKLOG, Settings,
                          dsr_all_ports)

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


def _positive(what: str, minimum: int = 0):
    def check(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
        if value is not None and value < minimum:
            raise click.BadParameter(f"{value} is below the minimum {minimum}", ctx, param)
        return value
    return check


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
@click.option("-T", "tracking", type=int, callback=_positive("-T"), metavar="sec",
              help="Client tracking time; 0 = forever.  [default: 0]")
@click.option("-U", "udp", is_flag=True, help="UDP mode.")
@click.option("-W", "weight", is_flag=True, help="Weight-based server selection.")
@click.option("-X", "exit_enabled", is_flag=True, help="Enable the penctl `exit` command.")
@click.option("-Z", "ssl_compat", is_flag=True, help="TLS compatibility workarounds.")
@click.option("-a", "ascii", is_flag=True, help="Dump communication as ASCII (with -ddd).")
@click.option("-b", "blacklist", type=int, callback=_positive("-b"), metavar="sec",
              help="Blacklist time for failed servers.  [default: 30]")
@click.option("-c", "clients_max", type=click.IntRange(1, MAX_CLIENTS), metavar="N",
              help="Client table size.  [default: 2048]")
@click.option("-d", "debug", count=True, help="Debug level (repeat for more).")
@click.option("-e", "emergency", metavar="host:port", help="Emergency server of last resort.")
@click.option("-f", "foreground", is_flag=True, help="Stay in the foreground.")
@click.option("-h", "hash", is_flag=True, help="Hash-based server selection (not help!).")
@click.option("-i", "win_service", metavar="name", hidden=True)
@click.option("-j", "chroot", metavar="dir", help="chroot to this directory.")
@click.option("-l", "logfile", metavar="file|host:port", help="Request log: a file, or penlogd over UDP.")
@click.option("-m", "multi_accept", type=int, metavar="N", help="Accepts per event.  [default: 100]")
@click.option("-n", "obs_n", is_flag=True, hidden=True)
@click.option("-p", "pidfile", metavar="file", help="Write the pid to this file.")
@click.option("-q", "backlog", type=int, metavar="N", help="Listen backlog.  [default: 500]")
@click.option("-r", "roundrobin", is_flag=True, help="Round robin without client tracking.")
@click.option("-s", "stubborn", is_flag=True, help="Stubborn: never fail over.")
@click.option("-t", "timeout", type=int, callback=_positive("-t", 1), metavar="sec",
              help="Connect timeout.  [default: 3]")
@click.option("-u", "user", metavar="user", help="Run as this user after opening the sockets.")
@click.option("-w", "web_stats", metavar="file", help="HTML status file, written on USR1 and `status`.")
@click.option("-x", "conn_max", type=click.IntRange(1, MAX_CONNS), metavar="N",
              help="Maximum simultaneous connections.  [default: 500]")
@click.option("--takeover", "takeover", metavar="CONTROL_PATH",
              help="Seamless restart: take the listening socket from the pen whose unix "
                   "control socket this is; it finishes its connections and exits.")
@click.option("--confine", "confine", multiple=True, metavar="DIR",
              help="Directory the run-time commands write, log, web_stats and include may use "
                   "(repeatable; default: the directories of -F, -l and -w).  See docs/security.md.")
@click.version_option(__version__, "--version", prog_name="pen",
                      message=f"%(prog)s (pen-ha) %(version)s, compatible with pen {C_PEN_VERSION}")
@click.argument("args", nargs=-1, metavar="[host:]port|path SERVER...")
def command(args: tuple[str, ...], **opts: object) -> None:
    """pen: a load balancer for TCP and UDP services, compatible with pen 0.34.1."""
    settings = build_settings(args, opts)
    from pen.engine.daemon import run
    sys.exit(run(settings))


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
    for key, value in opts.items():
        if value is None or value is False or value == () or key == "debug" and value == 0:
            continue
        if key == "commands":
            s.commands = list(value)
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
    elif not s.config_file:
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
        for what, spec in (("-e", s.emergency), ("-B", s.abuse)):
            if spec:
                try:
                    parse_server(spec, default_port)
                except AddressError as e:
                    raise AddressError(f"{what}: {e}") from None
        if s.control:
            parse_listen(s.control, default_host="127.0.0.1")
    except AddressError as e:
        raise click.UsageError(str(e)) from None
    return s


def main() -> None:
    command.main(prog_name="pen")


if __name__ == "__main__":
    main()
