"""Which words of a `server` line are names to look up off the loop, and the SIGHUP file's
lines once their names are in (pen/engine/lookups.py, pen/engine/startup.py)."""
from __future__ import annotations

import pytest

from pen.core.addr import AddressError
from pen.core.formats.configfile import Line
from pen.engine.lookups import lookup_target
from pen.engine.startup import ConfigError, names_in, with_addresses


@pytest.mark.parametrize("line, at", [
    ("server 1 address backend.test port 80", 3),
    ("server 1 port 80 address backend.test", 5),
    ("server 1 address 192.0.2.7 port 80", None),          # a literal: nothing to look up
    ("server 1 address 2001:db8::7 port 80", None),
    ("server 1 address fe80::1%eth0", None),
    ("server 1 address /run/app.sock", None),               # a unix path
    ("server 1 weight 3", None),
    ("server 1 address", None),                             # no HOST: the interpreter says so
    ("server 1 check http address.test", None),             # check takes the rest of the line
    ("blacklist 30", None),
])
def test_lookup_target(line: str, at: int | None) -> None:
    assert lookup_target(line.split()) == at


def test_names_in_lists_each_name_once_in_file_order() -> None:
    lines = [Line("f", 1, "server 1 address b.test"), Line("f", 2, "blacklist 3"),
             Line("f", 3, "server 2 address a.test port 80"), Line("f", 4, "server 3 address b.test")]
    assert names_in(lines) == ["b.test", "a.test"]


def test_with_addresses_puts_each_address_in_and_refuses_a_name_not_found() -> None:
    lines = [Line("f", 1, "server 1 address b.test port 80"), Line("f", 2, "blacklist 3")]
    assert [ln.text for ln in with_addresses(lines, {"b.test": "192.0.2.8"})] == \
        ["server 1 address 192.0.2.8 port 80", "blacklist 3"]
    with pytest.raises(ConfigError, match=r"^f:1: server 1 address: unknown or invalid address"):
        with_addresses(lines, {"b.test": AddressError("unknown or invalid address: no such name")})
