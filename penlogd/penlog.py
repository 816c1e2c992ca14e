"""penlog: the piped logger a web server writes its access log into (penlog(1)).

``penlog server_ip server_port [my_ip]``: every line on stdin becomes one UDP datagram to
penlogd; `my_ip` is bound as the source address, since penlogd knows a web server by the
datagram's source address.  See docs/penlog.md.
"""
from __future__ import annotations

import socket
import sys

import click

from pen.core.numbers import ascii_decimal
from pen.version import version_option

USAGE = "Usage: {prog} server_ip server_port [my_ip]"   # on stderr, as C
MAX_LINE = 65000        # C cuts lines at 1023 bytes and sends the rest as a separate datagram


def open_socket(host: str, port: int, my_ip: str | None) -> tuple[socket.socket, tuple]:
    """A UDP socket towards penlogd (IPv4 or IPv6), bound to `my_ip` when given."""
    family = 0
    if my_ip:
        family = socket.getaddrinfo(my_ip, 0, type=socket.SOCK_DGRAM)[0][0]
    info = socket.getaddrinfo(host, port, family, socket.SOCK_DGRAM)[0]
    sock = socket.socket(info[0], socket.SOCK_DGRAM)
    if my_ip:
        sock.bind((my_ip, 0))
    return sock, info[4]


def forward(stream: object, sock: socket.socket, dest: tuple) -> int:
    """Send each line of the binary `stream` as one datagram (with its newline, as C does)."""
    sent = 0
    for line in stream:  # type: ignore[attr-defined]
        if not line.endswith(b"\n"):
            line += b"\n"
        try:
            sock.sendto(line[:MAX_LINE], dest)
            sent += 1
        except OSError:
            pass          # penlogd not there: like C, the web server must never block on us
    return sent


@click.command(context_settings={"help_option_names": ["--help"]})
@version_option("penlog")
@click.argument("args", nargs=-1)
def main(args: tuple[str, ...]) -> None:
    """Forward stdin's log lines to penlogd: penlog SERVER_IP SERVER_PORT [MY_IP]."""
    if len(args) < 2 or len(args) > 3:
        click.echo(USAGE.format(prog=sys.argv[0]), err=True)
        sys.exit(1)
    host, port_text = args[0], args[1]
    if not 0 < (ascii_decimal(port_text, 5) or 0) < 65536:
        click.echo(f"penlog: bad port '{port_text}'", err=True)
        sys.exit(1)
    try:
        sock, dest = open_socket(host, int(port_text), args[2] if len(args) == 3 else None)
    except OSError as err:
        click.echo(f"penlog: {err}", err=True)
        sys.exit(1)
    forward(sys.stdin.buffer, sock, dest)
    sys.exit(0)
