"""`penctl`: send one command to pen's control port and print the reply (penctl(1)).

    penctl host:port|/path/to/socket command [args...]

Messages are C penctl's.  Exit codes (docs/penctl.md): 0 when pen carried the command out; 1
when pen refused it (`error: ...`, an unknown command), or on `no port given`, `error
connecting to server` and `error reading from socket`; 2 on a usage error (fewer than two
arguments: C penctl exited 0).  Works against C pen's control port too.  `--json` turns the
replies of servers, recent, mode and status into JSON, and any failure into {"error": ...}.
"""
from __future__ import annotations

import json
import socket
import sys
from typing import NoReturn

import click

from pen.core.control import COMMAND_WORDS
from pen.version import version_option
from penctl.replies import PARSERS, refusal, to_data

MAX_REQUEST = 1023
USAGE = "usage: penctl host:port command"


class PenctlError(Exception):
    """A failure with C penctl's message; exit status 1."""


def connect(address: str, timeout: float) -> socket.socket:
    """A unix path if it contains '/', else host:port split at the last ':' (penctl(1))."""
    if "/" in address:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        target: str | tuple[object, ...] = address
    else:
        host, sep, port = address.rpartition(":")
        if not sep:
            raise PenctlError("no port given")
        host = host.strip("[]") or "127.0.0.1"
        try:
            family, kind, proto, _, target = socket.getaddrinfo(
                host, port, 0, socket.SOCK_STREAM)[0]
        except socket.gaierror as e:              # C penctl prints gai_strerror's text
            raise PenctlError(f"getaddrinfo: {e.strerror}") from None
        except UnicodeError:
            raise PenctlError("getaddrinfo: Name or service not known") from None
        sock = socket.socket(family, kind, proto)
    sock.settimeout(timeout)
    try:
        sock.connect(target)
    except OSError:
        sock.close()
        raise PenctlError("error connecting to server") from None
    return sock


def request(address: str, line: str, timeout: float = 10.0) -> bytes:
    """Send one command line, return everything pen answers until it closes.  As C penctl,
    connect first, then refuse a line over its buffer."""
    sock = connect(address, timeout)
    data = (line + "\n").encode()
    if len(data) + 1 > MAX_REQUEST:     # C penctl's buffer: the line, "\n" and a NUL
        sock.close()
        raise PenctlError("Overlong argument list")
    chunks = []
    try:
        sock.sendall(data)
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    except OSError:
        raise PenctlError("error reading from socket") from None
    finally:
        sock.close()
    return b"".join(chunks)


def complete_command(ctx: click.Context, param: click.Parameter, incomplete: str) -> list:
    from click.shell_completion import CompletionItem
    return [CompletionItem(w) for w in COMMAND_WORDS if w.startswith(incomplete)]


EPILOG = ("\b\nCommands (see docs/penctl.md):\n" + "\n".join(
    "  " + " ".join(COMMAND_WORDS[i:i + 6]) for i in range(0, len(COMMAND_WORDS), 6))
    + "\n\b\n--json applies to: " + ", ".join(PARSERS)
    + "\nShell completion: eval \"$(_PENCTL_COMPLETE=bash_source penctl)\"")


@click.command(context_settings={"help_option_names": ["--help"],
                                 "ignore_unknown_options": True,
                                 "allow_interspersed_args": False,
                                 "max_content_width": 100},
               epilog=EPILOG)
@click.option("--json", "as_json", is_flag=True,
              help="Print the reply as JSON (servers, peers, recent, mode, status; others as {\"reply\"}).")
@click.option("--timeout", type=float, default=10.0, show_default=True,
              help="Seconds to wait for pen.")
@version_option("penctl")
@click.argument("address", required=False, metavar="host:port|/path")
@click.argument("command", required=False, shell_complete=complete_command)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def command(address: str | None, command: str | None, args: tuple[str, ...], as_json: bool,
            timeout: float) -> None:
    """Control a running pen (or C pen) through its control port (-C)."""
    if address is None or command is None:
        fail(USAGE, 2, as_json)
    line = " ".join((command,) + args)
    try:
        reply = request(address, line, timeout)
    except PenctlError as e:
        fail(str(e), 1, as_json)
    text = reply.decode("utf-8", "replace")
    if as_json:
        click.echo(json.dumps(to_data(command, text), indent=2))
    else:
        sys.stdout.buffer.write(reply)
        sys.stdout.flush()
    sys.exit(0 if refusal(text) is None else 1)


def fail(message: str, status: int, as_json: bool) -> NoReturn:
    """A failure before pen answered: the message on stderr, or {"error"} with --json."""
    if as_json:
        click.echo(json.dumps({"error": message}, indent=2))
    else:
        click.echo(message, err=True)
    sys.exit(status)


def main() -> None:
    command.main(prog_name="penctl")


if __name__ == "__main__":
    main()
