"""Listen addresses and server specs, as C pen 0.34.1 writes them (docs/pen.md "Addresses").

Parsing only: names are resolved by the caller (``pen.resolve``), so this module stays pure.
"""
from __future__ import annotations

import ipaddress

from dataclasses import dataclass

from pen.core.numbers import ascii_decimal, ascii_integer

MAX_PORT = 65535


class AddressError(ValueError):
    """A listen address or server spec that cannot be used; the message says why."""


@dataclass(slots=True, frozen=True)
class Endpoint:
    """An unresolved address: a unix socket path, or a host and a port (number or service)."""

    host: str          # "" for the wildcard; the path for a unix socket
    port: str          # as written: digits or a service name; "" when absent
    unix: bool = False

    def text(self) -> str:
        """The address as pen prints it (`listen`, `control`): host:port, or the path."""
        if self.unix:
            return self.host
        return f"{self.host}:{self.port}" if self.host else self.port


@dataclass(slots=True, frozen=True)
class ServerSpec:
    """`host[:port[:maxc[:hard[:weight[:prio]]]]]`; omitted numbers are 0 (docs/pen.md
    "Addresses")."""

    endpoint: Endpoint
    maxc: int = 0
    hard: int = 0
    weight: int = 0
    prio: int = 0


def parse_listen(text: str, default_host: str = "0.0.0.0") -> Endpoint:
    """`[host:]port` or a path (docs/pen.md "Addresses"): the text after the last ':' is the port.

    Unlike C pen we also accept `[v6addr]:port` here, as in server specs.
    """
    if not text:
        raise AddressError("empty address")
    if "/" in text:
        return Endpoint(text, "", unix=True)
    host, port = split_host_port(text, default_host)
    if not port:
        raise AddressError(f"bad address '{text}': no port")
    check_port_text(port, text)
    return Endpoint(host, port)


def split_host_port(text: str, default_host: str) -> tuple[str, str]:
    """`[v6addr]:port`, `host:port` (the text after the last ':' is the port) or `port`."""
    if text.startswith("["):
        close = text.find("]")
        if close < 0 or text[close + 1: close + 2] != ":":
            raise AddressError(f"bad address '{text}': expected [v6addr]:port")
        return text[1:close], text[close + 2:]
    if ":" in text:
        host, _, port = text.rpartition(":")
        return host, port
    return default_host, text


def is_loopback(host: str) -> bool:
    """A loopback address (or `localhost`): where a listener without authentication may go."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def check_port_text(port: str, context: str) -> None:
    """A port is a number 1-65535 or a service name (letters, digits, '-', '_')."""
    if not port.isascii():       # issue 10: '²'.isdigit() is True, int('²') raises
        raise AddressError(f"bad port '{port}' in '{context}'")
    if port.isdigit():
        number = ascii_decimal(port, 6)          # 10,000 digits: refused, never converted
        if number is None or not 1 <= number <= MAX_PORT:
            raise AddressError(f"bad port '{port[:12]}' in '{context[:60]}': must be 1-{MAX_PORT}")
    elif not port.replace("-", "").replace("_", "").isalnum():
        raise AddressError(f"bad port '{port}' in '{context}'")


def parse_server(text: str, default_port: str) -> ServerSpec:
    """A server spec (docs/pen.md "Addresses"). `default_port` is the listen port ('' for a
    unix listener)."""
    if not text:
        raise AddressError("empty server spec")
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise AddressError(f"bad server '{text}': missing ']'")
        host = text[1:close]
        rest = text[close + 1:]
        if rest and not rest.startswith(":"):
            raise AddressError(f"bad server '{text}': expected ':' after ']'")
        fields = rest[1:].split(":") if rest else []
    else:
        host, *fields = text.split(":")
    unix = "/" in host
    if not host:
        raise AddressError(f"bad server '{text}': no host")
    port = ""
    if fields:
        port = fields.pop(0)
    if unix:
        port = "1"      # C pen gives unix backends the pseudo-port 1
    elif not port:
        port = default_port
        if not port:
            raise AddressError(
                f"server '{text}' has no port and the listener is a unix socket: give host:port")
    if not unix:
        check_port_text(port, text)
    numbers: list[int] = []
    names = ("max", "hard", "weight", "prio")
    if len(fields) > len(names):
        raise AddressError(f"bad server '{text}': too many fields (host:port:max:hard:weight:prio)")
    for name, value in zip(names, fields):
        number = ascii_decimal(value)
        if number is None:
            raise AddressError(f"bad server '{text[:80]}': {name} '{value[:20]}' is not a number >= 0")
        numbers.append(number)
    numbers += [0] * (4 - len(numbers))
    return ServerSpec(Endpoint(host, port, unix), *numbers)


def parse_int(text: str, what: str, minimum: int | None = None) -> int:
    """An integer option value, with a message that names the option."""
    value = ascii_integer(text)
    if value is None:
        raise AddressError(f"{what}: '{text}' is not a number")
    if minimum is not None and value < minimum:
        raise AddressError(f"{what}: {value} is below the minimum {minimum}")
    return value
