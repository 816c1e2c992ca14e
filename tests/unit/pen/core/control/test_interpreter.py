"""Every penctl command against the pure interpreter, replies as C pen 0.34.1's (docs/penctl.md)."""
from __future__ import annotations

import pytest
from support.control import make

from pen.core.control import COMMAND_WORDS, Interpreter
from pen.core.stats import ConnView
from pen.settings import Settings

SERVERS_FRESH = ("0 addr 127.0.0.1 port 8081 conn 0 max 0 hard 0 weight 0 prio 0 sx 0 rx 0\n"
                 "1 addr 127.0.0.1 port 8082 conn 0 max 0 hard 0 weight 0 prio 0 sx 0 rx 0\n")


@pytest.fixture
def pen():
    return make()


def reply(interp: Interpreter, line: str) -> str:
    return interp.run(line).text


# Read-only commands on a fresh instance: C pen 0.34.1's replies (tests/compat/control/test_replies_vs_c.py).
@pytest.mark.parametrize("line, expected", [
    ("pid", "4242\n"),
    ("listen", "127.0.0.1:8080\n"),
    ("mode", "no hash no roundrobin no stubborn no weight no prio\n"),
    ("servers", SERVERS_FRESH),
    ("blacklist", "30\n"),
    ("timeout", "3\n"),
    ("tracking", "0\n"),
    ("debug", "0\n"),
    ("clients_max", "2048\n"),
    ("conn_max", "500\n"),
    ("client_acl", "0\n"),
    ("control_acl", "0\n"),
    ("tarpit_acl", "tarpit_acl = -1"),
    ("log", ""),
    ("web_stats", ""),
    ("idle_timeout", "Idle timeout: 0 seconds\n"),
    ("idlers", "Idlers: 0/0\n"),
    ("recent", ""),
    ("connection 0", "Connection 0:\nstate = 0\ndownfd = -1, upfd = -1\n"
                     "client = 0, server = 0\npend = 0\n"),
    ("connection 600", "Connection 600 out of range\n"),
    ("connection -1", "Connection -1 out of range\n"),
    ("socket 5", "Socket 5 belongs to connection -1\n"),
    ("close 600", "Connection 600 out of range\n"),
    ("exit", "Exit is not enabled; restart with -X flag\n"),
    # framing (docs/penctl.md "The control port")
    ("pid\nmode\n", "4242\n"),
    ("mode\r\n", "no hash no roundrobin no stubborn no weight no prio\n"),
    ("  mode", "no hash no roundrobin no stubborn no weight no prio\n"),
    ("mode  ", "no hash no roundrobin no stubborn no weight no prio\n"),
    ("MODE", "do_cmd: ignoring command starting with 'MODE'\n"),
    ("server  0  max  0", ""),
    ("", ""),
    ("# a comment", ""),
    ("block", "do_cmd: ignoring command starting with 'block'\n"),
    ("delayed_forward", "do_cmd: ignoring command starting with 'delayed_forward'\n"),
    ("foo bar", "do_cmd: ignoring command starting with 'foo'\n"),
    ("no", ""), ("no block", ""), ("no such_thing", ""),
    ("epoll", ""), ("poll", ""), ("select", ""), ("kqueue", ""),
    ("tcp_fastclose", "do_cmd: ignoring tcp_fastclose without argument\n"),
    ("source bogus", "unable to set source address to 'bogus'"),
    ("source 127.0.0.1", ""),
    ("ssl_option", ""), ("ssl_sni_path", ""), ("include", ""),
])
def test_fresh_replies(pen, line: str, expected: str) -> None:
    interp, _ = pen
    assert reply(interp, line) == expected


@pytest.mark.parametrize("line, expected, attr, value", [
    ("blacklist 10", "10\n", "blacklist", 10),
    ("timeout 5", "5\n", "timeout", 5),
    ("tracking 60", "60\n", "tracking", 60),
    ("debug 1", "1\n", "debug", 1),
    ("client_acl 3", "3\n", "client_acl", 3),
    ("client_acl 12", "0\n", "client_acl", 0),
    ("control_acl 5", "5\n", "control_acl", 5),
    ("tarpit_acl 2", "tarpit_acl = 2", "tarpit_acl", 2),
    ("tarpit_acl 11", "tarpit_acl = 0", "tarpit_acl", 0),
    ("idle_timeout 30", "Idle timeout: 30 seconds\n", "idle_timeout", 30),
    ("idle_timeout -5", "Idle timeout: 0 seconds\n", "idle_timeout", 0),
    ("pending_max 50", "", "pending_max", 50),
    ("pending_max 0", "", "pending_max", 1),
    ("web_stats /x/ws.html", "/x/ws.html\n", "web_stats", "/x/ws.html"),
    ("tcp_fastclose both", "", "tcp_fastclose", "both"),
    ("tcp_fastclose bogus", "", "tcp_fastclose", "off"),
    ("ssl_ciphers HIGH:!aNULL", "", "ssl_ciphers", "HIGH:!aNULL"),
    ("ssl_sni_path /srv/ssl", "", "ssl_sni_path", "/srv/ssl"),
    ("ssl_ocsp_response /x.ocsp", "", "ssl_ocsp_response", "/x.ocsp"),
    ("ssl_client_renegotiation_interval 60", "", "ssl_client_renegotiation_interval", 60),
    ("dsr_ip 192.0.2.10", "", "dsr_ip", "192.0.2.10"),
])
def test_setters(pen, line, expected, attr, value) -> None:
    interp, _ = pen
    assert reply(interp, line) == expected
    assert getattr(interp.state.settings, attr) == value


@pytest.mark.parametrize("flag", ["abort_on_error", "ascii", "dummy", "hash", "http", "keepalive",
                                  "prio", "roundrobin", "stubborn", "tcp_nodelay",
                                  "transparent", "weight"])
def test_flags_on_and_off(pen, flag: str) -> None:
    interp, _ = pen
    assert reply(interp, flag) == ""
    assert getattr(interp.state.settings, flag) is True
    assert reply(interp, f"no {flag}") == ""
    assert getattr(interp.state.settings, flag) is False


def test_mode_sequence(pen) -> None:
    """Mode switches (docs/penctl.md "Commands")."""
    interp, _ = pen
    steps = [("hash", "hash no roundrobin no stubborn no weight no prio"),
             ("roundrobin", "hash roundrobin no stubborn no weight no prio"),
             ("stubborn", "hash roundrobin stubborn no weight no prio"),
             ("weight", "hash roundrobin stubborn weight no prio"),
             ("prio", "hash roundrobin stubborn weight prio"),
             ("no hash", "no hash roundrobin stubborn weight prio"),
             ("no prio", "no hash roundrobin stubborn weight no prio")]
    for command, mode in steps:
        assert reply(interp, command) == ""
        assert reply(interp, "mode") == mode + "\n"


def test_clients_and_conn_max_only_grow(pen) -> None:
    interp, _ = pen
    assert reply(interp, "clients_max 4096") == "4096\n"
    assert reply(interp, "clients_max 100") == "4096\n"
    assert interp.state.clients.size == 4096
    assert reply(interp, "conn_max 600") == "600\n"
    assert reply(interp, "conn_max 10") == "600\n"


def test_server_modification_transcript(pen) -> None:
    """Server modification (docs/penctl.md "Commands"), including slot creation with family 0."""
    interp, fx = pen
    for line in ("server 0 max 10", "server 0 hard 20", "server 0 weight 3", "server 0 prio 2",
                 "server 1 max 5 hard 8 weight 1 prio 1",
                 "server 2 address 127.0.0.1 port 10083",
                 "server 4 address 127.0.0.1 port 10084", "server 4 address 0.0.0.0 port 0"):
        assert interp.run(line).text == "", line
    assert reply(interp, "servers") == (
        "0 addr 127.0.0.1 port 8081 conn 0 max 10 hard 20 weight 3 prio 2 sx 0 rx 0\n"
        "1 addr 127.0.0.1 port 8082 conn 0 max 5 hard 8 weight 1 prio 1 sx 0 rx 0\n"
        "2 addr 127.0.0.1 port 10083 conn 0 max 0 hard 0 weight 0 prio 0 sx 0 rx 0\n"
        "3 addr (unknown address family 0 port 0 conn 0 max 0 hard 0 weight 0 prio 0 sx 0 rx 0\n"
        "4 addr 0.0.0.0 port 0 conn 0 max 0 hard 0 weight 0 prio 0 sx 0 rx 0\n")
    assert interp.state.servers.servers[2].sockaddr == ("127.0.0.1", 10083)
    # silently ignored, as C pen
    for line in ("server", "server -1 port 5"):
        assert interp.run(line).text == ""
    assert len(interp.state.servers) == 5


def test_server_bad_address_changes_nothing(pen) -> None:
    interp, _ = pen
    r = interp.run("server 0 port 10099 address no.such.host.invalid")
    assert r.error and "no.such.host.invalid" in r.error and r.text.startswith("error: ")
    assert reply(interp, "servers") == SERVERS_FRESH


@pytest.mark.parametrize("line", ["server 0 bogus 5", "server 0 max", "server 0 max x",
                                  "server 0 max -1", "server 0 port 70000", "server 0 acl 10",
                                  "server x"])
def test_server_errors(pen, line: str) -> None:
    interp, _ = pen
    r = interp.run(line)
    assert r.error and r.text.startswith("error: ")
    assert reply(interp, "servers") == SERVERS_FRESH


def test_server_port_change_keeps_address_and_unix_backend(pen) -> None:
    interp, _ = pen
    interp.run("server 1 port 9999")
    assert interp.state.servers.servers[1].sockaddr == ("127.0.0.1", 9999)
    interp.run("server 2 address /run/b.sock")
    assert reply(interp, "servers").splitlines()[2] == \
        "2 addr /run/b.sock port 1 conn 0 max 0 hard 0 weight 0 prio 0 sx 0 rx 0"
    interp.run("server 0 address ::1")
    assert interp.state.servers.servers[0].sockaddr == ("::1", 8081, 0, 0)


def test_server_blacklist_uses_status_semantics(pen) -> None:
    interp, fx = pen
    interp.run("server 1 blacklist 60")
    srv = interp.state.servers.servers[1]
    assert srv.blacklisted_at == fx.clock + 60 - 30
    assert srv.blacklisted(fx.clock + 59, 30) and not srv.blacklisted(fx.clock + 61, 30)
    interp.run("server 1 blacklist 0")
    assert not srv.blacklisted(fx.clock, 30)


def test_server_address_change_untracks_clients(pen) -> None:
    interp, fx = pen
    client = interp.state.clients.store("192.0.2.1", fx.clock, 0)
    client.server = 1
    interp.run("server 1 address 127.0.0.2")
    assert client.server < 0


@pytest.mark.parametrize("line", ["server 4096", "server 99999999 port 1", "idlers 2", "source",
                                  "no acl", "ssl_client_renegotiation_interval",
                                  "ssl_ocsp_response", "peek", "dsr_if eth1", "blacklist x",
                                  "timeout 0", "timeout abc", "acl 1 permit 1.2.3.999",
                                  "acl 12 permit 1.2.3.4", "acl 4 maybe 1.2.3.4",
                                  "acl 3 permit country", "no acl 12"])
def test_crashers_and_bad_input_get_an_error_reply(pen, line: str) -> None:
    """Commands that crashed or hung C pen 0.34.1 (docs/compatibility.md) and malformed input: a clear reply."""
    interp, _ = pen
    r = interp.run(line)
    assert r.error
    assert r.text.startswith("error: ") and r.text.endswith("\n")
    assert len(interp.state.servers) == 2


def test_dsr_if_allowed_at_startup() -> None:
    interp, _ = make(running=False)
    assert interp.run("dsr_if eth1").error is None
    assert interp.state.settings.dsr_if == "eth1"
    interp.running = True
    assert interp.run("dsr_if eth1").error is None      # unchanged value: a no-op (HUP)
    assert interp.run("dsr_if eth2").error


def test_acl_commands(pen) -> None:
    interp, _ = pen
    for line in ("acl 1 permit 127.0.0.1", "acl 1 deny 10.0.0.0 255.0.0.0",
                 "acl 2 permit ::1/128", "acl 2 deny 2001:db8::", "acl 3 deny country SE"):
        assert interp.run(line) .error is None, line
    acls = interp.state.acls.lists
    assert [e.render() for e in acls[1]] == ["permit 127.0.0.1 255.255.255.255",
                                             "deny 10.0.0.0 255.0.0.0"]
    assert [e.render() for e in acls[2]] == ["permit ::1/128", "deny 2001:db8::/128"]
    assert reply(interp, "no acl 3") == ""
    assert acls[3] == []


def test_source_and_no_source(pen) -> None:
    interp, _ = pen
    interp.run("source 127.0.0.1")
    assert interp.state.settings.source == "127.0.0.1"
    interp.run("source nope")
    assert interp.state.settings.source is None
    interp.run("source 127.0.0.1")
    interp.run("no source")
    assert interp.state.settings.source is None


def test_ssl_option(pen) -> None:
    interp, _ = pen
    interp.run("ssl_option no_sslv3")
    interp.run("ssl_option bogus")
    interp.run("ssl_option no_sslv3")
    assert interp.state.settings.ssl_options == ["no_sslv3"]


def test_log_listen_and_effects(pen) -> None:
    interp, fx = pen
    assert reply(interp, "log /srv/pen2.log") == "/srv/pen2.log\n"
    assert fx.log_target == "/srv/pen2.log"
    assert reply(interp, "log") == "/srv/pen2.log\n"
    assert reply(interp, "no log") == ""
    assert fx.log_target is None and reply(interp, "log") == ""
    assert reply(interp, "listen 127.0.0.1:10090") == "127.0.0.1:10090\n"
    assert reply(interp, "listen") == "127.0.0.1:10090\n"
    fx.listen_error = OSError(98, "Address already in use")
    r = interp.run("listen 127.0.0.1:10091")
    assert r.error and "Address already in use" in r.text
    assert reply(interp, "listen") == "127.0.0.1:10090\n"
    assert reply(interp, "debug 2") == "2\n" and fx.debug_level == 2


def test_connections(pen) -> None:
    interp, fx = pen
    fx.conns[0] = ConnView(0, 2, 9, 11, 0, 1)
    assert reply(interp, "connection 0") == ("Connection 0:\nstate = 2\ndownfd = 9, upfd = 11\n"
                                             "client = 0, server = 1\npend = 0\n")
    assert reply(interp, "socket 11") == "Socket 11 belongs to connection 0\n"
    assert reply(interp, "close 0") == "Forcibly closing connection 0\n"
    assert fx.closed == [0]


def test_recent(pen) -> None:
    interp, fx = pen
    c = interp.state.clients.store("127.0.0.1", fx.clock - 100, 0)
    c.connects, c.csx, c.crx = 4, 796, 316
    u = interp.state.clients.store("", fx.clock - 5, 0)
    assert reply(interp, "recent") == ("127.0.0.1 connects 4 sx 796 rx 316\n"
                                       "unix connects 1 sx 0 rx 0\n")
    assert reply(interp, "recent 10") == "unix connects 1 sx 0 rx 0\n"
    assert u.slot == 1


def test_status_writes_the_file(pen) -> None:
    interp, fx = pen
    interp.run("web_stats /srv/ws.html")
    page = reply(interp, "status")
    assert page.startswith("<html>\n<head>\n<title>Pen status page</title>")
    assert fx.written["/srv/ws.html"] == page
    interp.run("web_stats /nonexistent/ws.html")
    assert interp.run("status").error


def test_exit_with_x() -> None:
    s = Settings()
    s.exit_enabled = True
    interp, fx = make(s)
    assert reply(interp, "exit") == "" and fx.exited


def test_write(pen) -> None:
    interp, fx = pen
    r = interp.run("write")
    assert r.text == "" and r.error == "write: no file"
    assert reply(interp, "write /srv/w.cfg") == ""
    assert "server 1 acl 0 address 127.0.0.1 port 8082" in fx.written["/srv/w.cfg"]
    interp.state.settings.config_file = "/srv/pen.cfg"
    interp.run("write")
    assert "/srv/pen.cfg" in fx.written
    assert interp.run("write /nonexistent/x.cfg").error


def test_include(pen) -> None:
    interp, fx = pen
    fx.files["/srv/inc.cfg"] = "timeout 4\nmode\nservers\n"
    assert reply(interp, "include /srv/inc.cfg") == ""
    assert interp.state.settings.timeout == 4
    assert fx.printed == ["4\n", "no hash no roundrobin no stubborn no weight no prio\n",
                          SERVERS_FRESH]
    fx.files["/srv/bad.cfg"] = "timeout 5\n\nbogus_cmd\ntimeout 6\n"
    r = interp.run("include /srv/bad.cfg")
    assert r.error and "/srv/bad.cfg:3" in r.error and "bogus_cmd" in r.error
    assert interp.state.settings.timeout == 5
    fx.files["/srv/loop.cfg"] = "include /srv/loop.cfg\n"
    assert "nested" in interp.run("include /srv/loop.cfg").error
    assert interp.run("include /srv/none.cfg").error


def test_every_command_word_is_handled(pen) -> None:
    interp, _ = pen
    for word in COMMAND_WORDS:
        assert word in interp.table, word
        assert not interp.run(word).text.startswith("do_cmd: ignoring command"), word


@pytest.mark.parametrize("line, expected", [
    ("connection", "Connection 0:\nstate = 0\ndownfd = -1, upfd = -1\nclient = 0, server = 0\n"
                   "pend = 0\n"),
    ("socket", "Socket 0 belongs to connection -1\n"),
    ("close", "Forcibly closing connection 0\n"),
    ("ssl_ciphers", ""), ("dsr_ip", ""), ("dsr_if", ""), ("acl", ""),
])
def test_missing_arguments_as_c_pen(pen, line: str, expected: str) -> None:
    """C pen 0.34.1 reads a missing number as 0 and survives these (checked against
    /usr/bin/pen, tests/compat/control/test_replies_vs_c.py); nothing changes."""
    interp, _ = pen
    before = (interp.state.settings.ssl_ciphers, interp.state.settings.dsr_ip,
              interp.state.settings.dsr_if)
    r = interp.run(line)
    assert r.text == expected and "crash" not in (r.error or "")
    assert before == (interp.state.settings.ssl_ciphers, interp.state.settings.dsr_ip,
                      interp.state.settings.dsr_if)


def test_recent_counts_whole_seconds(pen) -> None:
    interp, fx = pen
    fx.wall_time = lambda: fx.clock + 1_699_999_000.5      # wall seconds begin at clock x.5
    fx.clock = 1000.55
    interp.state.clients.store("192.0.2.7", fx.clock, 0)
    fx.clock = 1001.45                           # 0.9 s later, in the same wall second
    assert reply(interp, "recent 0") == "192.0.2.7 connects 1 sx 0 rx 0\n"
    fx.clock = 1001.6                            # the next wall second has begun
    assert reply(interp, "recent 0") == ""
    assert reply(interp, "recent 1") == "192.0.2.7 connects 1 sx 0 rx 0\n"
