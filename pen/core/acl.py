"""The ten access control lists (penctl(1) `acl`).

First match wins; when nothing matches the result is the opposite of the last entry, so a list
ending in `deny` permits the rest; an empty list permits everything.  List 0 is the default for
client_acl, control_acl and every server.  Unix-socket clients are always permitted.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from pen.core.numbers import ascii_decimal

NLISTS = 10
FAMILY_UNIX = 0
FAMILY_V4 = 4
FAMILY_V6 = 6


@dataclass(slots=True, frozen=True)
class AclEntry:
    permit: bool
    family: int                 # FAMILY_V4, FAMILY_V6, or 0 for a country entry
    network: int = 0            # address, already masked
    mask: int = 0
    shown: str = ""             # the address as the operator wrote it (for `write`)
    prefix: int = 0             # IPv6 prefix length
    country: str = ""

    def render(self) -> str:
        """The entry as an `acl N ...` tail, in C pen's `write` format (docs/configuration.md
        "write [FILE]")."""
        word = "permit" if self.permit else "deny"
        if self.country:
            return f"{word} country {self.country}"
        if self.family == FAMILY_V4:
            return f"{word} {self.shown} {ipaddress.IPv4Address(self.mask)}"
        return f"{word} {self.shown}/{self.prefix}"

    def matches(self, family: int, address: int, country: str | None) -> bool:
        if self.country:
            return country is not None and country == self.country
        return self.family == family and (address & self.mask) == self.network


class AclError(ValueError):
    """A bad `acl` command; the message is C pen's diagnostic where it has one."""


@dataclass(slots=True)
class Acls:
    lists: list[list[AclEntry]] = field(default_factory=lambda: [[] for _ in range(NLISTS)])
    # Country entries (issue 11): the loaded databases (pen.core.geoip.CountryLookup), and
    # whether start-up is over, after which a country entry without a database is refused
    # (C pen accepted it and never matched it, penctl(1) `acl`).
    geo: Any = None
    geo_required: bool = False

    def add(self, n: int, words: list[str]) -> AclEntry:
        """`acl N permit|deny ADDR [MASK]`, `ADDR6[/LEN]` or `country CC`."""
        if not 0 <= n < NLISTS:
            raise AclError(f"add_acl: {n} outside (0,{NLISTS})")
        if not words or words[0] not in ("permit", "deny"):
            raise AclError("acl: expected permit|deny")
        permit = words[0] == "permit"
        if len(words) < 2:
            raise AclError("acl: expected address")
        if words[1] == "country":
            if len(words) < 3 or len(words[2]) != 2 or not words[2].isalpha():
                raise AclError("acl: expected country")
            if self.geo_required and self.geo is None:
                raise AclError("acl: country entries need a GeoIP database, and none is "
                               "loaded (geoip_db PATH at start-up; see docs/dataplane.md)")
            entry = AclEntry(permit, 0, country=words[2].upper())
        elif ":" in words[1]:
            text, _, length = words[1].partition("/")
            try:
                addr = ipaddress.IPv6Address(text)
                prefix = ascii_decimal(length, 3) if length else 128
                if prefix is None or not 0 <= prefix <= 128:
                    raise ValueError
            except ValueError:
                raise AclError(f"acl: bogus address '{words[1]}'") from None
            mask = ((1 << 128) - 1) ^ ((1 << (128 - prefix)) - 1)
            entry = AclEntry(permit, FAMILY_V6, int(addr) & mask, mask, text, prefix)
        else:
            try:
                addr4 = ipaddress.IPv4Address(words[1])
                mask4 = ipaddress.IPv4Address(words[2]) if len(words) > 2 else None
            except ValueError:
                bad = words[1] if not _is_v4(words[1]) else words[2]
                raise AclError(f"acl: bogus address '{bad}'") from None
            mask = int(mask4) if mask4 is not None else 0xFFFFFFFF
            entry = AclEntry(permit, FAMILY_V4, int(addr4) & mask, mask, words[1])
        self.lists[n].append(entry)
        return entry

    def clear(self, n: int) -> None:
        if not 0 <= n < NLISTS:
            raise AclError(f"no acl: {n} outside (0,{NLISTS})")
        self.lists[n].clear()

    def permits(self, n: int, family: int, address: int, country: str | None = None) -> bool:
        """Evaluate list n for a client (family FAMILY_V4/V6/UNIX, address as an int)."""
        entries = self.lists[n] if 0 <= n < NLISTS else ()
        if not entries or family == FAMILY_UNIX:
            return True
        looked_up = country is not None
        for entry in entries:
            if entry.country and not looked_up:       # once, at the first country entry (C)
                looked_up = True
                if self.geo is not None:
                    country = self.geo.country(family, address)
            if entry.matches(family, address, country):
                return entry.permit
        return not entries[-1].permit

    def has_country_entries(self) -> bool:
        return any(e.country for entries in self.lists for e in entries)


def _is_v4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def client_family_and_int(host: str) -> tuple[int, int]:
    """(family, address as int) for a client address text; unix clients are ('', 0)."""
    if not host:
        return FAMILY_UNIX, 0
    addr = ipaddress.ip_address(host)
    if addr.version == 6 and addr.ipv4_mapped is not None:
        return FAMILY_V4, int(addr.ipv4_mapped)
    return (FAMILY_V4 if addr.version == 4 else FAMILY_V6), int(addr)
