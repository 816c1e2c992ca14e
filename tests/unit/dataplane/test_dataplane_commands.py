"""`geoip_db` (pen/core/control_dataplane.py) and the transparent helpers."""
from __future__ import annotations

import pytest

from pen.core.control import Interpreter
from pen.core.state import PenState
from pen.engine.transparent import client_ipv4
from pen.settings import Settings


class NoEffects:
    def __getattr__(self, name: str):
        raise AssertionError(f"unexpected effect {name}")


def interp(running: bool) -> Interpreter:
    return Interpreter(PenState(Settings()), NoEffects(), running=running)  # type: ignore[arg-type]


def test_geoip_db_at_start_up_and_run_time() -> None:
    it = interp(running=False)
    assert it.run("geoip_db").text == \
        "/usr/share/GeoIP/GeoIP.dat /usr/share/GeoIP/GeoIPv6.dat\n"
    assert it.run("geoip_db /x/a.mmdb").text == "/x/a.mmdb\n"
    assert it.state.settings.geoip_db == ["/x/a.mmdb"]
    it.running = True
    assert it.run("geoip_db /x/a.mmdb").error is None      # SIGHUP re-reading -F: unchanged
    reply = it.run("geoip_db /x/other.dat")
    assert reply.error and "start-up" in reply.error
    assert it.state.settings.geoip_db == ["/x/a.mmdb"]


@pytest.mark.parametrize("host,want", [("192.0.2.10", "192.0.2.10"),
                                       ("::ffff:192.0.2.10", "192.0.2.10"),
                                       ("2001:db8::1", None), ("", None)])
def test_client_ipv4(host: str, want: str | None) -> None:
    assert client_ipv4(host) == want
