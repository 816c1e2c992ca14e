"""Open the GeoIP country databases for country ACLs (issue 11; docs/dataplane.md
"Country ACLs").

The files are mapped read-only (the kernel pages in what lookups touch) and handed to the
pure readers in pen.core.geoip.  Without `geoip_db PATH...`, Debian's geoip-database files
are used, as C pen's libGeoIP does.  C pen silently never matched a country entry when no
database could be opened; here that stops start-up with a message naming the files tried.
"""
from __future__ import annotations

import logging
import mmap
import os

from pen.core.balance.state import PenState
from pen.core.geoip import CountryLookup, GeoIPError, LegacyCountryDb, MmdbCountryDb, open_country_db

log = logging.getLogger("pen")

DEBIAN_DATABASES = ("/usr/share/GeoIP/GeoIP.dat", "/usr/share/GeoIP/GeoIPv6.dat")


class GeoDbError(Exception):
    """A database that was asked for (or is needed) but cannot be used."""


def open_file(path: str) -> LegacyCountryDb | MmdbCountryDb:
    """The database at `path` as a reader over an mmap of the file."""
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size == 0:
                raise GeoIPError(f"{path}: empty file")
            data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as e:
        raise GeoDbError(f"cannot open GeoIP database {path}: {e.strerror}") from None
    except GeoIPError as e:
        raise GeoDbError(str(e)) from None
    try:
        return open_country_db(data, path)
    except GeoIPError as e:
        data.close()
        raise GeoDbError(str(e)) from None


def load(paths: list[str]) -> CountryLookup:
    """Explicit paths must all load; the Debian defaults are used where they exist."""
    lookup = CountryLookup()
    explicit = bool(paths)
    for path in paths or DEBIAN_DATABASES:
        if not explicit and not os.path.exists(path):
            continue
        try:
            db = open_file(path)
        except GeoDbError:
            if explicit:
                raise
            log.warning("GeoIP: %s unusable; skipped", path)
            continue
        lookup.databases.append(db)
        lookup.names.append(path)
        log.info("GeoIP: %s (%s)", path, db.description)
    return lookup


def install(state: PenState) -> None:
    """At start-up, after -o/-F: load the databases and require them if any ACL has a
    country entry.  From then on a new country entry without a database is refused."""
    acls = state.acls
    needed = acls.has_country_entries()
    paths = state.settings.geoip_db
    try:
        lookup = load(paths)
    except GeoDbError as e:
        if needed or paths:
            raise
        log.warning("%s", e)
        lookup = CountryLookup()
    if lookup.databases:
        acls.geo = lookup
    elif needed:
        tried = ", ".join(paths or DEBIAN_DATABASES)
        raise GeoDbError(f"acl country entries need a GeoIP database; none found ({tried}). "
                         "Install Debian's geoip-database or give `geoip_db PATH`")
    acls.geo_required = True
