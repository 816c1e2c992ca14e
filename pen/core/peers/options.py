"""Peer addresses and keys as options and commands accept them (docs/peers.md "Options").

`--peer HOST:PORT` names another node's peer listener; `--peer-listen [HOST:]PORT` this node's
(all addresses when HOST is left out); `--peer-key FILE` holds the shared secret, the same
file on every node.  A listener reachable from outside loopback without a key would let
anyone rewrite the client table, so that is refused at start-up (`check`).
"""
from __future__ import annotations

from pen.core.addr import AddressError, is_loopback, split_host_port
from pen.core.numbers import ascii_integer

MIN_KEY = 16          # bytes: a shorter secret is refused


class PeerConfigError(ValueError):
    pass


def split(text: str, default_host: str | None = None) -> tuple[str, int]:
    """`HOST:PORT` / `[V6]:PORT` (or `PORT` when a default host is given: a listener, whose
    port may be 0) -> (host, port)."""
    if "/" in text:
        raise PeerConfigError(f"'{text}': peers talk TCP, not over a unix socket")
    if default_host is None and ":" not in text:
        raise PeerConfigError(f"'{text}': give HOST:PORT")
    try:
        host, port_text = split_host_port(text, default_host or "")
    except AddressError as e:
        raise PeerConfigError(str(e)) from None
    port = ascii_integer(port_text)
    lowest = 0 if default_host is not None else 1       # a listener may take any free port
    if port is None or not lowest <= port <= 65535:
        raise PeerConfigError(f"'{text}': the port must be a number {lowest}-65535")
    if not host or not host.isascii() or any(c.isspace() for c in host):
        raise PeerConfigError(f"'{text}': no host" if not host else f"'{text}': bad host")
    return host, port


def read_key(data: bytes, path: str) -> bytes:
    """The secret in a key file: its bytes, surrounding white space stripped."""
    key = data.strip()
    if len(key) < MIN_KEY:
        raise PeerConfigError(f"peer key {path}: {len(key)} bytes; at least {MIN_KEY} are needed "
                              "(e.g. `head -c 32 /dev/urandom | base64 > FILE`)")
    return key


def check(peers: list[str], listen: str | None, key_file: str | None) -> None:
    """Start-up: every address well formed; no key means a loopback-only listener.
    `key_file` "" means not known yet (a -F file may still give it): addresses only."""
    for p in peers:
        split(p)
    if listen is not None:
        host, _ = split(listen, "0.0.0.0")
        if key_file is None and not is_loopback(host):
            raise PeerConfigError(f"--peer-listen {listen}: a listener beyond loopback needs "
                                  "--peer-key FILE (anyone could rewrite the client table)")
