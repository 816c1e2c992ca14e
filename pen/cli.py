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
from functools import cache
from typing import Any, Callable, NoReturn

from pen.cliopts import click_options, parse_fast
from pen.core.addr import AddressError, parse_listen, parse_server
from pen.core.numbers import ascii_decimal, c_atoi
from pen.core.peers import options as peer_options
from pen.settings import DSR_PSEUDO_PORT, MAX_CLIENTS, MAX_CONNS, MIN_BACKLOG, Settings, dsr_all_ports
from pen.version import C_PEN_VERSION

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


def _to_stderr(text: str) -> None:
    print(text, file=sys.stderr)


def c_number(letter: str, text: str, warn: Callable[[str], None] = _to_stderr) -> int:
    """A numeric option read as C pen reads it, with `atoi` (pen(1) OPTIONS): `-b x` is
    0, `-c 5x` is 5.  Command lines that ran under C pen run here; text that is not a plain
    number is read the same way but named on stderr, so the slip is visible."""
    value = c_atoi(text)
    if ascii_decimal(text.removeprefix("-")) is None:
        warn(f"pen: -{letter} '{text}' is not a number; read as {value}, as C pen does")
    return value


def grown(letter: str, texts: tuple[str, ...], default: int, ceiling: int,
          warn: Callable[[str], None] = _to_stderr) -> int:
    """-c and -x grow a table that never shrinks: the largest value wins, 0 and (for -c)
    negative values leave the default (C pen: `-c 0` is 2048, `-c 100 -c 50` is 100)."""
    size = 0
    for text in texts:
        n = c_number(letter, text, warn)
        if n < 0 and letter == "x":       # C pen: "Can't realloc", exit 1
            raise OptionError(f"-x {text}: a connection table cannot be negative")
        if n > ceiling:
            raise OptionError(f"-{letter} {text}: over the maximum {ceiling}")
        size = max(size, n)
    return size or default


class OptionError(ValueError):
    """A command line pen refuses; click reports it as a usage error (exit 2)."""


def _build_command() -> Any:
    """The click command from pen.cliopts' table: help, version and usage errors."""
    import click

    from pen.version import version_option

    def command(args: tuple[str, ...], **opts: object) -> None:
        """pen: a load balancer for TCP and UDP services, compatible with pen 0.34.1."""
        try:
            settings = build_settings(args, opts)
        except OptionError as e:
            raise click.UsageError(str(e)) from None
        _run(settings)

    command = click.argument("args", nargs=-1, metavar="[host:]port|path SERVER...")(command)
    command = version_option("pen", f"compatible with pen {C_PEN_VERSION}")(command)
    command = click_options(command)
    return click.command(context_settings={"help_option_names": ["--help"], "max_content_width": 100},
                         epilog=EPILOG)(command)


@cache
def __getattr__(name: str) -> Any:
    """`command`, the click command (pen.manpages, the tests), built on first use (PEP 562)."""
    if name == "command":
        return _build_command()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _run(settings: Settings) -> NoReturn:
    from pen.engine.daemon import run
    sys.exit(run(settings))


def build_settings(args: tuple[str, ...], opts: dict[str, Any],
                   warn: Callable[[str], None] = _to_stderr) -> Settings:
    """Check every option and value; OptionError for the first bad one, notes through `warn`."""
    for letter in "DnQS":
        if opts.pop(f"obs_{letter}"):
            warn(OBSOLETE[letter])
    if opts.pop("obs_N"):
        raise OptionError("-N (hash without saving the server) was never implemented; "
                               "use -h -r to hash on address and port")
    if opts.pop("win_service") is not None:
        raise OptionError("-i: Windows only")
    s = Settings()
    s.clients_max = grown("c", opts.pop("clients_max"), s.clients_max, MAX_CLIENTS, warn)
    s.conn_max = grown("x", opts.pop("conn_max"), s.conn_max, MAX_CONNS, warn)
    for key, letter in (("tracking", "T"), ("blacklist", "b"), ("timeout", "t"),
                        ("multi_accept", "m"), ("backlog", "q")):
        if opts[key] is not None:
            opts[key] = c_number(letter, opts[key], warn)
    for key, letter in (("tracking", "T"), ("blacklist", "b")):
        if opts[key] is not None and opts[key] < 0:     # C keeps -1; it acts as 0 there too
            warn(f"pen: -{letter} {opts[key]} is negative; using 0")
            opts[key] = 0
    if opts["timeout"] is not None and opts["timeout"] < 1:    # C prints its usage
        raise OptionError(f"-t {opts['timeout']}: the connect timeout must be at least 1")
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
        warn("multi_accept bumped to 1")
        s.multi_accept = 1
    if s.backlog < MIN_BACKLOG:
        warn(f"listen_queue bumped to {MIN_BACKLOG}")
        s.backlog = MIN_BACKLOG
    if s.ssl_protocol is not None and s.ssl_protocol not in SSL_PROTOCOLS:
        raise OptionError(f"protocol version {s.ssl_protocol} not known "
                               f"(use one of {', '.join(SSL_PROTOCOLS)})")
    if s.user is not None:
        import pwd
        try:
            pwd.getpwnam(s.user)
        except KeyError:
            raise OptionError(f"-u: no such user '{s.user}'") from None
    if args:
        s.listen = args[0]
        s.server_specs = list(args[1:])
    elif not s.config_file and "listen" not in os.environ.get("LISTEN_FDNAMES", "").split(":"):
        raise OptionError("no listen address: give [host:]port and at least one server, "
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
        raise OptionError(str(e)) from None
    if s.peer_key is not None:
        s.peer_key = os.path.abspath(s.peer_key)
    try:    # the key rule waits for the -F file (pen.engine.peers.start)
        peer_options.check(s.peers, s.peer_listen, s.peer_key or ("" if s.config_file else None))
    except peer_options.PeerConfigError as e:
        raise OptionError(str(e)) from None
    return s


def main() -> None:
    """A valid command line runs without click (pen.cliopts); anything else is click's."""
    argv = sys.argv[1:]
    parsed = parse_fast(argv)
    if parsed is not None:
        notes: list[str] = []
        try:
            settings = build_settings(*parsed, warn=notes.append)
        except OptionError:
            pass                    # click says what is wrong, with the usage line
        else:
            for note in notes:
                _to_stderr(note)
            try:
                _run(settings)
            except KeyboardInterrupt:       # as click's main says it
                _to_stderr("Aborted!")
                sys.exit(1)
    __getattr__("command").main(args=argv, prog_name="pen")


if __name__ == "__main__":
    main()
