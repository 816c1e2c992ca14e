"""pen-ha's extra commands (issue 9): parsing, replies, and `write` round trips."""
from __future__ import annotations

from support.control import make

from pen.core.formats import configfile
from pen.core.control import MODULES


def test_extension_settings_and_server_state_round_trip() -> None:
    """As -F at start-up (geoip_db is a start-up-only command)."""
    a, fx_a = make(running=False)
    for line in ("hash_method consistent", "queue_max 50", "queue_timeout 2.5", "send_proxy 2",
                 "accept_proxy", "leastconn", "log_ports", "geoip_db /x/GeoIP.dat",
                 "server 0 drain sticky", "server 1 proxy 1",
                 "server 1 check http /hz expect 204 interval 0.5 timeout 0.2 rise 3 fall 2"):
        r = a.run(line)
        assert r.error is None, (line, r)
    text = configfile.render(a.state, fx_a.listen, "t", "/w.cfg", modules=MODULES)
    b, fx_b = make(specs=(), running=False)
    fx_b.listen = None
    for line in configfile.parse(text, "/w.cfg"):
        r = b.run(line.text)
        assert r.error is None, (line, r)
    assert configfile.render(b.state, fx_b.listen, "t", "/w.cfg", modules=MODULES) == text
    a.state.settings.listen = fx_a.listen
    assert b.state.settings == a.state.settings
    s0, s1 = b.state.servers.get(0), b.state.servers.get(1)
    assert s0.drain and s0.drain_sticky and s1.send_proxy == 1
    assert s1.check == a.state.servers.get(1).check and s1.check.expect == "204"


def test_getters_setters_and_errors() -> None:
    a, _ = make()
    assert a.run("hash_method").text == "modulo\n"
    assert a.run("hash_method consistent").text == "consistent\n"
    assert a.run("hash_method ring").text.startswith("error: hash_method: expected")
    assert a.run("queue_max -1").text.startswith("error: queue_max: -1 out of range")
    assert a.run("send_proxy 3").text.startswith("error:")
    assert a.run("server 0 check ping").text.startswith("error: server 0 check: expected")
    assert a.run("server 0 proxy 7").text.startswith("error: server 0 proxy")
    assert a.run("mode").text == "no hash no roundrobin no stubborn no weight no prio\n"
    assert a.run("takeover").text.startswith("error: takeover works only")


def test_server_state_lines() -> None:
    a, fx = make()
    a.run("server 0 drain")
    a.run("server 1 blacklist 20")
    lines = a.run("server_state").text.splitlines()
    assert lines[0].startswith("0 addr 127.0.0.1 port 8081 state draining conn 0")
    assert " state blacklisted " in lines[1] and "blacklist_left 20" in lines[1]
    a.run("server 0 undrain")
    assert " state up " in a.run("server_state").text.splitlines()[0]


def test_nul_bytes_in_paths_are_a_clean_error() -> None:
    """Regression (found by tests/fuzz): `log \\x00` raised ValueError out of the interpreter."""
    for running in (False, True):
        a, _ = make(running=running)
        for line in ("log \x00", "web_stats a\x00b", "write /tmp/x\x00", "include \x00"):
            r = a.run(line)
            assert r.text.startswith("error: "), (line, r)


def test_table_sizes_have_a_ceiling() -> None:
    """Regression (found by tests/fuzz): `clients_max 99999999999` raised MemoryError, as C
    pen's huge `server N` exhausted memory (docs/compatibility.md)."""
    from pen.settings import MAX_CLIENTS, MAX_CONNS
    a, _ = make()
    assert a.run("clients_max 99999999999").text.startswith("error: clients_max")
    assert a.run(f"clients_max {MAX_CLIENTS}").text == f"{MAX_CLIENTS}\n"
    assert len(a.state.clients.slots) < 10           # slots grow with clients, not the maximum
    assert a.run(f"conn_max {MAX_CONNS + 1}").text.startswith("error: conn_max")
