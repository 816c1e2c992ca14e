"""penctl commands for the data-plane features of issue 11.

  geoip_db [PATH [PATH...]]   the GeoIP country databases for `acl N ... country CC`
                              (legacy GeoIP.dat / GeoIPv6.dat, or MaxMind .mmdb); start-up
                              only (-o/-O, -F); the reply lists the files in use
C pen 0.34.1 had no such command: libGeoIP always opened Debian's files (penctl(1) `acl`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from pen.core.balance.servers import Server
from pen.core.balance.state import PenState

if TYPE_CHECKING:
    from pen.core.control.interpreter import Interpreter

FLAGS: tuple[str, ...] = ()
DEFAULT_TEXT = "/usr/share/GeoIP/GeoIP.dat /usr/share/GeoIP/GeoIPv6.dat"


def commands(interp: Interpreter, error: type[Exception]) -> dict[str, Callable[[list[str]], str]]:
    settings = interp.state.settings

    def geoip_db(words: list[str]) -> str:
        paths = words[1:]
        if paths and paths != settings.geoip_db:
            if interp.running:
                raise error("geoip_db can only be set at start-up (-o or -F); restart pen "
                            "to change the GeoIP databases")
            settings.geoip_db = list(paths)
        return (" ".join(settings.geoip_db) or DEFAULT_TEXT) + "\n"

    return {"geoip_db": geoip_db}


def render(state: PenState) -> list[str]:
    s = state.settings
    return [f"geoip_db {' '.join(s.geoip_db)}"] if s.geoip_db else []


def render_server(srv: Server) -> list[str]:
    return []
