"""`geoip_db` (pen/core/control/dataplane.py)."""
from __future__ import annotations

from pen.core.control import Interpreter
from pen.core.noeffects import NoEffects
from pen.core.balance.state import PenState
from pen.settings import Settings


def interp(running: bool) -> Interpreter:
    state = PenState(Settings())
    return Interpreter(state, NoEffects(state), running=running)


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
