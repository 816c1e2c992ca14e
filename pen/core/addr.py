"""Listen addresses and server specs, as C pen 0.34.1 writes them (spec/pen-0.34.md §1.2, §1.3).

Parsing only: names are resolved by the caller (``pen.resolve``), so this module stays pure.
"""
from __future__ import annotations

from dataclasses import dataclass

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
    """`host[:port[:maxc[:hard[:weight[:prio]]]]]`; omitted numbers are 0 (§1.3)."""

    endpoint: Endpoint
    maxc: int = 0
    hard: int = 0
    weight: int = 0
    prio: int = 0


def parse_listen(text: str, default_host: str = "0.0.0.0") -> Endpoint:
    """`[host:]port` or a path (§1.2): the text after the last ':' is the port.

    Unlike C pen we also accept `[v6addr]:port` here, as in server specs.
    """
    if not text:
        raise AddressError("empty address")
    if "/" in text:
        return Endpoint(text, "", unix=True)
    if text.startswith("["):
        close = text.find("]")
        if close < 0 or text[close + 1: close + 2] != ":":
            raise AddressError(f"bad address '{text}': expected [v6addr]:port")
        host, port = text[1:close], text[close + 2:]
    elif ":" in text:
        host, _, port = text.rpartition(":")
    else:
        host, port = default_host, text
    if not port:
        raise AddressError(f"bad address '{text}': no port")
    check_port_text(port, text)
    return Endpoint(host, port)


def check_port_text(port: str, context: str) -> None:
    """A port is a number 1-65535 or a service name (letters, digits, '-', '_')."""
    if not port.isascii():       # issue 10: '²'.isdigit() is True, int('²') raises
        raise AddressError(f"bad port '{port}' in '{context}'")
    if port.isdigit():
        if not 1 <= int(port) <= MAX_PORT:
            raise AddressError(f"bad port '{port}' in '{context}': must be 1-{MAX_PORT}")
    elif not port.replace("-", "").replace("_", "").isalnum():
        raise AddressError(f"bad port '{port}' in '{context}'")


def parse_server(text: str, default_port: str) -> ServerSpec:
    """A server spec (§1.3). `default_port` is the listen port ('' for a unix listener)."""
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
        if not (value.isascii() and value.isdigit()):
            raise AddressError(f"bad server '{text}': {name} '{value}' is not a number >= 0")
        numbers.append(int(value))
    numbers += [0] * (4 - len(numbers))
    return ServerSpec(Endpoint(host, port, unix), *numbers)


def parse_int(text: str, what: str, minimum: int | None = None) -> int:
    """An integer option value, with a message that names the option."""
    try:
        value = int(text, 10)
    except ValueError:
        raise AddressError(f"{what}: '{text}' is not a number") from None
    if minimum is not None and value < minimum:
        raise AddressError(f"{what}: {value} is below the minimum {minimum}")
    return value
