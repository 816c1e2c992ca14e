"""GeoIP readers (pen/core/geoip.py): legacy country editions and MaxMind DB files, checked
against databases written by the test writers, MaxMind's own reader, and Debian's files."""
from __future__ import annotations

import copy
import mmap
import shutil
import subprocess
from pathlib import Path

import pytest

from support.geoip import legacy_country_db, mmdb_country_db
from pen.core import geoip
from pen.core.acl import Acls, client_family_and_int

ENTRIES = {
    "192.0.2.0/24": "FR",
    "192.0.2.128/25": "DE",          # refines the /24
    "198.51.100.7/32": "JP",
    "203.0.113.0/24": "US",
    "127.0.0.2/32": "SE",
    "127.0.0.3/32": "NO",
    "2001:db8::/32": "NL",
    "2001:db8:1::/48": "BR",
}
EXPECT = {
    "192.0.2.1": "FR", "192.0.2.127": "FR", "192.0.2.128": "DE", "192.0.2.255": "DE",
    "198.51.100.7": "JP", "198.51.100.8": None, "203.0.113.99": "US", "127.0.0.2": "SE",
    "127.0.0.3": "NO", "127.0.0.1": None, "10.0.0.1": None, "0.0.0.0": None,
    "255.255.255.255": None,
}
EXPECT6 = {"2001:db8::1": "NL", "2001:db8:1::5": "BR", "2001:db9::1": None, "::1": None}


def lookup(db, text: str) -> str | None:
    return db.country(*client_family_and_int(text))


def test_legacy_v4_and_v6() -> None:
    db4 = geoip.open_country_db(legacy_country_db(ENTRIES))
    db6 = geoip.open_country_db(legacy_country_db(ENTRIES, v6=True))
    assert isinstance(db4, geoip.LegacyCountryDb) and db4.family == 4
    assert db6.family == 6
    for addr, cc in EXPECT.items():
        assert lookup(db4, addr) == cc, addr
    for addr, cc in EXPECT6.items():
        assert lookup(db6, addr) == cc, addr
    assert lookup(db4, "2001:db8::1") is None          # wrong family: no answer


@pytest.mark.parametrize("record_size", [24, 28, 32])
@pytest.mark.parametrize("with_pointer", [True, False])
def test_mmdb(record_size: int, with_pointer: bool) -> None:
    db = geoip.open_country_db(mmdb_country_db(ENTRIES, record_size, with_pointer=with_pointer))
    assert isinstance(db, geoip.MmdbCountryDb)
    for addr, cc in {**EXPECT, **EXPECT6}.items():
        assert lookup(db, addr) == cc, addr


def test_mmdb_v4_only_tree() -> None:
    v4 = {k: v for k, v in ENTRIES.items() if ":" not in k}
    db = geoip.open_country_db(mmdb_country_db(v4, 24, ip_version=4))
    for addr, cc in EXPECT.items():
        assert lookup(db, addr) == cc
    assert lookup(db, "2001:db8::1") is None


@pytest.mark.parametrize("record_size", [24, 28, 32])
def test_writer_agrees_with_maxminds_reader(tmp_path: Path, record_size: int) -> None:
    """MaxMind's reference reader reads our test files the same way: the writer is right, so
    the reader's passing tests mean something."""
    maxminddb = pytest.importorskip("maxminddb")
    path = tmp_path / "t.mmdb"
    path.write_bytes(mmdb_country_db(ENTRIES, record_size))
    with maxminddb.open_database(str(path)) as ref:
        for addr, cc in {**EXPECT, **EXPECT6}.items():
            rec = ref.get(addr)
            assert (rec["country"]["iso_code"] if rec else None) == cc, addr


def test_decoder_types() -> None:
    """Every data type of the format (the MaxMind DB File Format Specification, "Output Data Section")."""
    blob = bytes([0xE5]) + b"".join([                  # map, 5 pairs
        bytes([0x41]) + b"a", bytes([0x68]) + b"\x40\x09\x21\xfb\x54\x44\x2d\x18",   # double
        bytes([0x41]) + b"b", bytes([0x04, 0x01]) + b"\xff\xff\xff\xfe",             # int32 -2
        bytes([0x41]) + b"c", bytes([0x02, 0x04]),                                     # array[2]
        bytes([0x01, 0x07]),                                                           # true
        bytes([0xA1]) + b"\x07",                                                       # uint16 7
        bytes([0x41]) + b"d", bytes([0x83]) + b"xyz",                                  # bytes
        bytes([0x41]) + b"e", bytes([0x08, 0x02]) + b"\x00" * 7 + b"\x01",             # uint64
    ])
    value, end = geoip.Decoder(blob, 0).decode(0)
    assert end == len(blob)
    assert value["a"] == pytest.approx(3.141592653589793)
    assert value["b"] == -2
    assert value["c"] == [True, 7]
    assert value["d"] == b"xyz"
    assert value["e"] == 1


def test_bad_databases_are_clear_errors() -> None:
    with pytest.raises(geoip.GeoIPError, match="not a country edition"):
        geoip.LegacyCountryDb(b"\0" * 30 + b"\xff\xff\xff\x02", "GeoIPCity.dat")
    broken = mmdb_country_db(ENTRIES, 24)
    marker = broken.rfind(geoip.MMDB_MARKER)
    with pytest.raises(geoip.GeoIPError, match="metadata"):
        geoip.open_country_db(broken[:marker + len(geoip.MMDB_MARKER)] + b"\xe0", "x.mmdb")
    # a truncated legacy file answers nothing rather than raising mid-lookup
    short = geoip.LegacyCountryDb(legacy_country_db(ENTRIES)[:12] + b"\xff\xff\xff\x01")
    assert lookup(short, "203.0.113.99") is None


def test_acl_country_entries_use_the_lookup() -> None:
    """C's match_acl: the country is looked up once, at the first country entry."""
    acls = Acls()
    acls.geo = geoip.CountryLookup([geoip.open_country_db(legacy_country_db(ENTRIES))])
    acls.add(1, ["deny", "country", "fr"])
    acls.add(1, ["permit", "country", "DE"])
    assert not acls.permits(1, *client_family_and_int("192.0.2.1"))       # FR denied
    assert acls.permits(1, *client_family_and_int("192.0.2.200"))         # DE permitted
    assert not acls.permits(1, *client_family_and_int("203.0.113.1"))     # US: last was permit
    assert copy.deepcopy(acls).geo is acls.geo                            # SIGHUP trial copy
    acls.add(2, ["deny", "country", "SE"])
    assert not acls.permits(2, *client_family_and_int("127.0.0.2"))
    assert acls.permits(2, *client_family_and_int("127.0.0.3"))


def test_acl_country_without_database_refuses_at_run_time() -> None:
    acls = Acls()
    acls.add(1, ["deny", "country", "SE"])       # start-up: checked once the databases load
    acls.geo_required = True
    with pytest.raises(ValueError, match="GeoIP database"):
        acls.add(1, ["deny", "country", "NO"])


DEBIAN4 = Path("/usr/share/GeoIP/GeoIP.dat")
DEBIAN6 = Path("/usr/share/GeoIP/GeoIPv6.dat")
# Lookups only (no traffic): well-known public resolvers and RIPE's own address.
PUBLIC4 = ["8.8.8.8", "1.1.1.1", "193.0.6.139", "81.2.69.160", "9.9.9.9", "208.67.222.222",
           "77.88.8.8", "114.114.114.114", "200.160.0.8", "210.130.0.1"]
PUBLIC6 = ["2001:4860:4860::8888", "2a00:1450::1", "2001:67c:2e8::1", "2400:cb00::1"]


@pytest.mark.skipif(not DEBIAN4.exists(), reason="geoip-database not installed")
def test_debian_database_known_lookups() -> None:
    with open(DEBIAN4, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        db = geoip.open_country_db(m, str(DEBIAN4))
        assert lookup(db, "8.8.8.8") == "US"
        assert lookup(db, "193.0.6.139") == "NL"
        assert lookup(db, "192.0.2.1") is None          # TEST-NET is nobody's
        if shutil.which("geoiplookup"):                # cross-check with libGeoIP itself
            for addr in PUBLIC4:
                out = subprocess.run(["geoiplookup", "-f", str(DEBIAN4), addr],
                                     capture_output=True, text=True, timeout=10).stdout
                expected = out.split(":", 1)[1].split(",")[0].strip()
                got = lookup(db, addr)
                assert (got or "IP Address not found") == expected, addr
        del db


@pytest.mark.skipif(not DEBIAN6.exists(), reason="geoip-database not installed")
def test_debian_v6_database_known_lookups() -> None:
    with open(DEBIAN6, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        db = geoip.open_country_db(m, str(DEBIAN6))
        assert lookup(db, "2001:4860:4860::8888") == "US"
        if shutil.which("geoiplookup6"):
            for addr in PUBLIC6:
                out = subprocess.run(["geoiplookup6", "-f", str(DEBIAN6), addr],
                                     capture_output=True, text=True, timeout=10).stdout
                expected = out.split(":", 1)[1].split(",")[0].strip()
                assert (lookup(db, addr) or "IP Address not found") == expected, addr
        del db
