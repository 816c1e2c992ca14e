"""Country ACLs end to end (docs/dataplane.md "Country ACLs"; issue 11): clients on 127.0.0.2 and
127.0.0.3, which the generated databases place in SE and NO, are permitted and denied by
`acl N permit|deny country CC`, from a legacy GeoIP.dat and from a MaxMind .mmdb."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from support.geoip import legacy_country_db, mmdb_country_db
from pen.core.acl import AclError
from pen.core.balance.state import PenState
from pen.engine import geoipdb
from pen.settings import Settings
from support.procs import PEN, PENCTL, Backend, fetch_name, free_port

MAP = {"127.0.0.2/32": "SE", "127.0.0.3/32": "NO", "192.0.2.0/24": "FR"}


@pytest.fixture
def named(backends) -> Backend:
    return backends("name", "a")[0]


@pytest.fixture(params=["legacy", "mmdb"])
def database(request, tmp_path: Path) -> Path:
    if request.param == "legacy":
        path = tmp_path / "GeoIP.dat"
        path.write_bytes(legacy_country_db(MAP))
    else:
        path = tmp_path / "country.mmdb"
        path.write_bytes(mmdb_country_db(MAP))
    return path


def test_deny_country(named, pen_factory, database: Path) -> None:
    p = pen_factory(named.addr, opts=["-o", f"geoip_db {database}", "-o",
                                      "acl 1 deny country SE", "-o", "client_acl 1"])
    assert fetch_name(p, source="127.0.0.2") == "FAIL"        # SE: denied
    assert fetch_name(p, source="127.0.0.3") == "a"           # NO: the list ends in deny
    assert fetch_name(p, source="127.0.0.1") == "a"           # unknown: permitted


def test_permit_country(named, pen_factory, database: Path, tmp_path: Path) -> None:
    ctl = tmp_path / "ctl"
    p = pen_factory(named.addr, opts=["-C", str(ctl), "-o", f"geoip_db {database}", "-o",
                                      "acl 2 permit country no", "-o", "client_acl 2"])
    assert fetch_name(p, source="127.0.0.3") == "a"           # NO: permitted
    assert fetch_name(p, source="127.0.0.2") == "FAIL"        # SE: ends in permit -> deny
    assert fetch_name(p, source="127.0.0.1") == "FAIL"
    # run time: a country entry added through the control port takes effect at once
    subprocess.run([str(PENCTL), str(ctl), "acl", "3", "deny", "country", "NO"], check=True,
                   timeout=10, capture_output=True)
    subprocess.run([str(PENCTL), str(ctl), "client_acl", "3"], check=True, timeout=10,
                   capture_output=True)
    assert fetch_name(p, source="127.0.0.3") == "FAIL"
    assert fetch_name(p, source="127.0.0.2") == "a"
    reply = subprocess.run([str(PENCTL), str(ctl), "geoip_db"], capture_output=True,
                           text=True, timeout=10).stdout
    assert reply == f"{database}\n"


def test_server_acl_by_country(backends, pen_factory, database: Path) -> None:
    """A server's ACL: clients from SE may not use server 0 and fail over to server 1."""
    a, b = backends("name", "a", "b")
    p = pen_factory(a.addr, b.addr, opts=["-o", f"geoip_db {database}", "-o",
                                          "acl 4 deny country SE", "-o", "server 0 acl 4"])
    assert {fetch_name(p, source="127.0.0.2") for _ in range(4)} == {"b"}


def test_missing_database_is_a_clear_error(named, tmp_path: Path) -> None:
    missing = tmp_path / "nope.dat"
    res = subprocess.run([str(PEN), "-f", "-o", f"geoip_db {missing}", "-o",
                          "acl 1 deny country SE", f"127.0.0.1:{free_port()}", named.addr],
                         capture_output=True, text=True, timeout=20)
    assert res.returncode == 1
    assert f"cannot open GeoIP database {missing}" in res.stderr


def test_not_a_country_database_is_a_clear_error(named, tmp_path: Path) -> None:
    bad = tmp_path / "GeoIPCity.dat"
    bad.write_bytes(b"\0" * 60 + b"\xff\xff\xff\x02")
    res = subprocess.run([str(PEN), "-f", "-o", f"geoip_db {bad}", "-o",
                          "acl 1 deny country SE", f"127.0.0.1:{free_port()}", named.addr],
                         capture_output=True, text=True, timeout=20)
    assert res.returncode == 1 and "not a country edition" in res.stderr


def test_without_any_database_country_entries_are_refused(monkeypatch) -> None:
    """No database anywhere: start-up with a country entry fails, naming the files tried;
    without one, pen starts and a later country entry is refused with the reason."""
    monkeypatch.setattr(geoipdb, "DEBIAN_DATABASES", ("/nonexistent/GeoIP.dat",))
    state = PenState(Settings())
    state.acls.add(1, ["deny", "country", "SE"])
    with pytest.raises(geoipdb.GeoDbError, match="/nonexistent/GeoIP.dat"):
        geoipdb.install(state)
    state = PenState(Settings())
    geoipdb.install(state)
    with pytest.raises(AclError, match="need a GeoIP database"):
        state.acls.add(1, ["deny", "country", "SE"])


@pytest.mark.skipif(not Path("/usr/share/GeoIP/GeoIP.dat").exists(), reason="geoip-database")
def test_debian_database_is_the_default() -> None:
    state = PenState(Settings())
    state.acls.add(1, ["deny", "country", "US"])
    geoipdb.install(state)
    assert state.acls.geo.names[0] == "/usr/share/GeoIP/GeoIP.dat"
