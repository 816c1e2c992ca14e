"""penctl commands for the data-plane features of issue 11, registered into the interpreter.

  geoip_db [PATH [PATH...]]   the GeoIP country databases for `acl N ... country CC`
                              (legacy GeoIP.dat / GeoIPv6.dat, or MaxMind .mmdb); start-up
                              only (-o/-O, -F); the reply lists the files in use
C pen 0.34.1 had no such command: libGeoIP always opened Debian's files (§1.6).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pen.core.control import Interpreter

WORDS = ("geoip_db",)
DEFAULT_TEXT = "/usr/share/GeoIP/GeoIP.dat /usr/share/GeoIP/GeoIPv6.dat"


def register(interp: Interpreter, error: type[Exception]) -> None:
    settings = interp.state.settings

    def geoip_db(words: list[str]) -> str:
        paths = words[1:]
        if paths and paths != settings.geoip_db:
            if interp.running:
                raise error("geoip_db can only be set at start-up (-o or -F); restart pen "
                            "to change the GeoIP databases")
            settings.geoip_db = list(paths)
        return (" ".join(settings.geoip_db) or DEFAULT_TEXT) + "\n"

    interp.table["geoip_db"] = geoip_db
