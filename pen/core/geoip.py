"""Country lookups for `acl N permit|deny country CC` (penctl(1) `acl`).

C pen links libGeoIP and opens Debian's legacy country databases (/usr/share/GeoIP/GeoIP.dat
for IPv4, GeoIPv6.dat for IPv6).  MaxMind stopped publishing that format in 2019; today's
databases (GeoLite2-Country, DB-IP lite) are MaxMind DB `.mmdb` files.  Both are read here,
from bytes or an mmap, with no I/O of our own: the engine opens the files
(pen/engine/geoipdb.py).

Legacy format (libGeoIP GeoIP.c, `_GeoIP_seek_record`): a binary trie of 6-byte nodes, two
3-byte little-endian records each; a record >= COUNTRY_BEGIN is a leaf whose value minus
COUNTRY_BEGIN indexes the country-code table below.  The database type is in a trailer
found by searching the last 20 bytes backwards for FF FF FF.

MaxMind DB format (MaxMind DB File Format Specification 2.0): a binary trie of `node_count`
nodes with 24-, 28- or 32-bit records, 16 zero bytes, a typed data section, and a metadata
map after the marker `\\xab\\xcd\\xefMaxMind.com`.  IPv4 addresses in an IPv6 tree live under
::/96.  The country is `country.iso_code` (else `registered_country.iso_code`).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

FAMILY_V4 = 4
FAMILY_V6 = 6

# libGeoIP GeoIP.c GeoIP_country_code[]: the index is the leaf value (order is historical).
LEGACY_CODES = (
    "--", "AP", "EU", "AD", "AE", "AF", "AG", "AI", "AL", "AM", "CW", "AO", "AQ", "AR", "AS",
    "AT", "AU", "AW", "AZ", "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BM", "BN",
    "BO", "BR", "BS", "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI",
    "CK", "CL", "CM", "CN", "CO", "CR", "CU", "CV", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM",
    "DO", "DZ", "EC", "EE", "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR",
    "SX", "GA", "GB", "GD", "GE", "GF", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS",
    "GT", "GU", "GW", "GY", "HK", "HM", "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IN", "IO",
    "IQ", "IR", "IS", "IT", "JM", "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR",
    "KW", "KY", "KZ", "LA", "LB", "LC", "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA",
    "MC", "MD", "MG", "MH", "MK", "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU",
    "MV", "MW", "MX", "MY", "MZ", "NA", "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR",
    "NU", "NZ", "OM", "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT",
    "PW", "PY", "QA", "RE", "RO", "RU", "RW", "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI",
    "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "ST", "SV", "SY", "SZ", "TC", "TD", "TF", "TG",
    "TH", "TJ", "TK", "TM", "TN", "TO", "TL", "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM",
    "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI", "VN", "VU", "WF", "WS", "YE", "YT", "RS",
    "ZA", "ZM", "ME", "ZW", "A1", "A2", "O1", "AX", "GG", "IM", "JE", "BL", "MF", "BQ", "SS",
    "O1",
)
COUNTRY_BEGIN = 16776960              # libGeoIP: first leaf value of a country database
LEGACY_COUNTRY = 1                    # GEOIP_COUNTRY_EDITION
LEGACY_COUNTRY_V6 = 12                # GEOIP_COUNTRY_EDITION_V6
STRUCTURE_INFO_MAX_SIZE = 20
MMDB_MARKER = b"\xab\xcd\xefMaxMind.com"
MMDB_METADATA_MAX = 128 * 1024


class GeoIPError(ValueError):
    """A database that cannot be used; the message says what is wrong with it."""


class LegacyCountryDb:
    """A libGeoIP country database (GeoIP.dat or GeoIPv6.dat), read in place."""

    __slots__ = ("data", "family", "bits", "description")

    def __init__(self, data: bytes | memoryview | Any, name: str = "database") -> None:
        self.data = data
        dbtype = legacy_type(data)
        if dbtype == LEGACY_COUNTRY:
            self.family, self.bits = FAMILY_V4, 32
        elif dbtype == LEGACY_COUNTRY_V6:
            self.family, self.bits = FAMILY_V6, 128
        else:
            raise GeoIPError(f"{name}: legacy GeoIP database type {dbtype} is not a country "
                             "edition (1 for IPv4, 12 for IPv6)")
        if len(data) < 6:
            raise GeoIPError(f"{name}: too short for a GeoIP database")
        self.description = f"legacy GeoIP country ({'IPv4' if self.family == 4 else 'IPv6'})"

    def country(self, family: int, address: int) -> str | None:
        """The ISO code for an address (an int), or None when the database has none."""
        if family != self.family:
            return None
        data = self.data
        offset = 0
        for depth in range(self.bits - 1, -1, -1):
            pos = offset * 6 + (3 if (address >> depth) & 1 else 0)
            rec = data[pos:pos + 3]
            if len(rec) < 3:
                return None                       # truncated or corrupt: no answer
            x = rec[0] | (rec[1] << 8) | (rec[2] << 16)
            if x >= COUNTRY_BEGIN:
                index = x - COUNTRY_BEGIN
                code = LEGACY_CODES[index] if index < len(LEGACY_CODES) else "--"
                return None if code == "--" else code
            offset = x
        return None


def legacy_type(data: bytes | memoryview | Any) -> int:
    """The database type from the structure-info trailer (libGeoIP `_setup_segments`);
    a file without one is a country edition."""
    end = len(data)
    for i in range(STRUCTURE_INFO_MAX_SIZE):
        pos = end - 3 - i
        if pos < 0:
            break
        if bytes(data[pos:pos + 3]) == b"\xff\xff\xff":
            if pos + 3 >= end:
                break
            dbtype = data[pos + 3]
            return dbtype - 105 if dbtype >= 106 else dbtype
    return LEGACY_COUNTRY


class MmdbCountryDb:
    """A MaxMind DB file (GeoLite2-Country, DB-IP country lite, ...), read in place."""

    __slots__ = ("data", "node_count", "record_size", "ip_version", "node_bytes",
                 "data_start", "ipv4_start", "description", "_cache")

    def __init__(self, data: bytes | memoryview | Any, name: str = "database") -> None:
        self.data = data
        start = rfind_marker(data)
        if start < 0:
            raise GeoIPError(f"{name}: no MaxMind DB metadata marker")
        try:
            meta, _ = Decoder(data, start).decode(start)
            self.node_count = int(meta["node_count"])
            self.record_size = int(meta["record_size"])
            self.ip_version = int(meta["ip_version"])
            dbtype = str(meta.get("database_type", "?"))
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise GeoIPError(f"{name}: bad MaxMind DB metadata ({e})") from None
        if self.record_size not in (24, 28, 32):
            raise GeoIPError(f"{name}: unsupported record size {self.record_size}")
        if self.ip_version not in (4, 6):
            raise GeoIPError(f"{name}: unsupported ip_version {self.ip_version}")
        self.node_bytes = self.record_size * 2 // 8
        self.data_start = self.node_count * self.node_bytes + 16
        if self.data_start > start:
            raise GeoIPError(f"{name}: search tree runs past the data ({self.node_count} nodes)")
        self.description = f"MaxMind DB {dbtype}"
        self._cache: dict[int, str | None] = {}
        node = 0
        if self.ip_version == 6:
            for _ in range(96):
                if node >= self.node_count:
                    break
                node = self.record(node, 0)
        self.ipv4_start = node

    def record(self, node: int, bit: int) -> int:
        d = self.data
        base = node * self.node_bytes
        if self.record_size == 24:
            b = d[base + 3 * bit:base + 3 * bit + 3]
            return (b[0] << 16) | (b[1] << 8) | b[2]
        if self.record_size == 28:
            middle = d[base + 3]
            if bit == 0:
                b = d[base:base + 3]
                return ((middle & 0xF0) << 20) | (b[0] << 16) | (b[1] << 8) | b[2]
            b = d[base + 4:base + 7]
            return ((middle & 0x0F) << 24) | (b[0] << 16) | (b[1] << 8) | b[2]
        b = d[base + 4 * bit:base + 4 * bit + 4]
        return struct.unpack(">I", bytes(b))[0]

    def country(self, family: int, address: int) -> str | None:
        if family == FAMILY_V4:
            node, bits = self.ipv4_start, 32
        elif family == FAMILY_V6 and self.ip_version == 6:
            node, bits = 0, 128
        else:
            return None
        n = self.node_count
        try:
            for depth in range(bits - 1, -1, -1):
                if node >= n:
                    break
                node = self.record(node, (address >> depth) & 1)
        except IndexError:
            return None
        if node <= n:
            return None                           # == n: no data for this address
        offset = node - n - 16
        if offset in self._cache:
            return self._cache[offset]
        try:
            value, _ = Decoder(self.data, self.data_start).decode(self.data_start + offset)
        except (IndexError, ValueError, struct.error, RecursionError):
            value = None
        code = iso_code(value)
        self._cache[offset] = code
        return code


def iso_code(value: Any) -> str | None:
    if not isinstance(value, dict):
        return None
    for key in ("country", "registered_country"):
        entry = value.get(key)
        if isinstance(entry, dict) and isinstance(entry.get("iso_code"), str):
            return entry["iso_code"].upper()
    return None


def rfind_marker(data: bytes | memoryview | Any) -> int:
    """Offset just after the last metadata marker, or -1."""
    lo = max(0, len(data) - MMDB_METADATA_MAX)
    tail = bytes(data[lo:])
    at = tail.rfind(MMDB_MARKER)
    return -1 if at < 0 else lo + at + len(MMDB_MARKER)


class Decoder:
    """The MaxMind DB data-section decoder; pointers are relative to `base`."""

    __slots__ = ("data", "base", "depth")

    def __init__(self, data: bytes | memoryview | Any, base: int) -> None:
        self.data, self.base, self.depth = data, base, 0

    def decode(self, offset: int) -> tuple[Any, int]:
        self.depth += 1
        if self.depth > 64:
            raise ValueError("MaxMind DB data nested too deeply")
        try:
            return self._decode(offset)
        finally:
            self.depth -= 1

    def _decode(self, off: int) -> tuple[Any, int]:
        d = self.data
        ctrl = d[off]
        off += 1
        kind = ctrl >> 5
        if kind == 1:                              # pointer
            ss, vvv = (ctrl >> 3) & 3, ctrl & 7
            if ss == 0:
                p = (vvv << 8) | d[off]
            elif ss == 1:
                p = ((vvv << 16) | (d[off] << 8) | d[off + 1]) + 2048
            elif ss == 2:
                p = ((vvv << 24) | int.from_bytes(bytes(d[off:off + 3]), "big")) + 526336
            else:
                p = int.from_bytes(bytes(d[off:off + 4]), "big")
            value, _ = self.decode(self.base + p)
            return value, off + ss + 1
        if kind == 0:                              # extended type
            kind = 7 + d[off]
            off += 1
        size = ctrl & 0x1F
        if size == 29:
            size, off = 29 + d[off], off + 1
        elif size == 30:
            size, off = 285 + int.from_bytes(bytes(d[off:off + 2]), "big"), off + 2
        elif size == 31:
            size, off = 65821 + int.from_bytes(bytes(d[off:off + 3]), "big"), off + 3
        if kind == 7:                              # map
            out: dict[str, Any] = {}
            for _ in range(size):
                key, off = self.decode(off)
                out[str(key)], off = self.decode(off)
            return out, off
        if kind == 11:                             # array
            items = []
            for _ in range(size):
                item, off = self.decode(off)
                items.append(item)
            return items, off
        if kind == 14:                             # boolean: the value is the size
            return bool(size), off
        raw = bytes(d[off:off + size])
        if len(raw) < size:
            raise ValueError("MaxMind DB value runs past the end of the file")
        off += size
        if kind == 2:
            return raw.decode("utf-8", "replace"), off
        if kind == 3:
            return struct.unpack(">d", raw)[0], off
        if kind == 15:
            return struct.unpack(">f", raw)[0], off
        if kind == 4:
            return raw, off
        if kind in (5, 6, 9, 10):
            return int.from_bytes(raw, "big"), off
        if kind == 8:
            return int.from_bytes(raw.rjust(4, b"\0"), "big", signed=True), off
        if kind in (12, 13):                       # data cache container, end marker
            return None, off
        raise ValueError(f"MaxMind DB: unknown data type {kind}")


def open_country_db(data: bytes | memoryview | Any, name: str = "database"
                    ) -> LegacyCountryDb | MmdbCountryDb:
    """Recognise the format: a MaxMind DB has its metadata marker, anything else must be a
    legacy country edition."""
    if rfind_marker(data) >= 0:
        return MmdbCountryDb(data, name)
    return LegacyCountryDb(data, name)


@dataclass(slots=True)
class CountryLookup:
    """The databases pen uses, IPv4 and IPv6; immutable once loaded, so copies share it."""

    databases: list[LegacyCountryDb | MmdbCountryDb] = field(default_factory=list)
    names: list[str] = field(default_factory=list)

    def country(self, family: int, address: int) -> str | None:
        for db in self.databases:
            code = db.country(family, address)
            if code is not None:
                return code
        return None

    def families(self) -> set[int]:
        out: set[int] = set()
        for db in self.databases:
            if isinstance(db, MmdbCountryDb):
                out |= {FAMILY_V4, FAMILY_V6} if db.ip_version == 6 else {FAMILY_V4}
            else:
                out.add(db.family)
        return out

    def __deepcopy__(self, memo: dict) -> CountryLookup:
        return self          # read-only; an mmap cannot be copied (SIGHUP's trial state)

    def __copy__(self) -> CountryLookup:
        return self
