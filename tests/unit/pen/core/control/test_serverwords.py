"""pen.core.control.serverwords: pen-ha's words on a `server N ...` line (docs/penctl.md
"pen-ha's own commands"), taken out before C pen's key/value pairs are read, and written
back by `write`.  The `server` command as a whole is test_interpreter.py's and test_ext.py's."""
from __future__ import annotations

import pytest

from pen.core.balance.servers import Server
from pen.core.control.serverwords import (ServerWordError, apply_server_ext, render_server,
                                          split_server_words)
from pen.core.health import CheckSpec


def test_c_pairs_pass_through_in_order_around_pen_has_words() -> None:
    rest, ext = split_server_words(1, ["address", "10.0.0.1", "drain", "sticky", "port", "80",
                                       "tls", "on", "proxy", "2", "weight", "3"])
    assert rest == ["address", "10.0.0.1", "port", "80", "weight", "3"]
    assert ext == {"drain": True, "sticky": True, "tls": 1, "proxy": 2}


@pytest.mark.parametrize("words,ext", [
    (["drain"], {"drain": True}),
    (["undrain"], {"undrain": True}),
    (["no_check"], {"no_check": True}),
    (["tls", "off"], {"tls": 0}),
    (["tls", "default"], {"tls": -1}),
    (["proxy", "0"], {"proxy": 0}),
    (["proxy", "1"], {"proxy": 1}),
    (["proxy", "default"], {"proxy": -1}),
])
def test_each_word_and_its_value(words: list[str], ext: dict) -> None:
    assert split_server_words(0, words) == ([], ext)


def test_sticky_is_a_word_only_after_drain() -> None:
    assert split_server_words(0, ["sticky", "drain"]) == (["sticky"], {"drain": True})
    assert split_server_words(0, ["undrain", "sticky"]) == (["sticky"], {"undrain": True})


def test_check_takes_the_rest_of_the_line() -> None:
    rest, ext = split_server_words(2, ["weight", "2", "check", "http", "/healthz", "rise", "3"])
    assert rest == ["weight", "2"]
    assert ext == {"check": CheckSpec(kind="http", path="/healthz", rise=3)}


@pytest.mark.parametrize("words,why", [
    (["tls", "yes"], "server 4 tls: expected on, off or default"),
    (["proxy", "3"], "server 4 proxy: expected 0, 1, 2 or default"),
    (["proxy", "¹"], "server 4 proxy: expected 0, 1, 2 or default"),
    (["check", "ping"], "server 4 check: expected one of"),
    (["check", "tcp", "rise"], "server 4 check: 'rise' needs a value"),
])
def test_a_bad_value_names_the_server_and_the_word(words: list[str], why: str) -> None:
    with pytest.raises(ServerWordError, match=why):
        split_server_words(4, words)


def test_a_last_word_without_its_value_is_left_to_c_pens_pairs() -> None:
    """C pen's own parser then answers for a key without a value, as it always did."""
    assert split_server_words(0, ["tls"]) == (["tls"], {})
    assert split_server_words(0, ["proxy"]) == (["proxy"], {})


def test_drain_sticky_then_undrain() -> None:
    srv = Server(1)
    apply_server_ext(srv, {"drain": True, "sticky": True})
    assert srv.drain and srv.drain_sticky
    apply_server_ext(srv, {"drain": True})          # strict drain: sticky no longer
    assert srv.drain and not srv.drain_sticky
    apply_server_ext(srv, {"undrain": True})
    assert not srv.drain and not srv.drain_sticky


def test_a_new_check_starts_unproven_and_no_check_forgets_the_agents_weight() -> None:
    """A checked server takes no client until its first probe succeeded (docs/pen.md)."""
    srv = Server(1)
    apply_server_ext(srv, {"check": CheckSpec(kind="agent", port=9999)})
    assert srv.check == CheckSpec(kind="agent", port=9999)
    assert srv.health is not None and not srv.health.proven and srv.down()
    srv.agent_weight = 50
    apply_server_ext(srv, {"no_check": True})
    assert (srv.check, srv.health, srv.agent_weight) == (None, None, None)


def test_nothing_is_written_for_a_server_with_pen_has_defaults() -> None:
    assert render_server(Server(0)) == []


def test_what_write_renders_reads_back_the_same() -> None:
    srv = Server(3)
    apply_server_ext(srv, {"drain": True, "sticky": True, "proxy": 1, "tls": 0,
                           "check": CheckSpec(kind="http", path="/h", expect="204", port=8080)})
    lines = render_server(srv)
    assert lines[:3] == ["server 3 drain sticky", "server 3 proxy 1", "server 3 tls off"]
    again = Server(3)
    for line in lines:
        words = line.split()
        assert words[:2] == ["server", "3"]
        rest, ext = split_server_words(3, words[2:])
        assert rest == []
        apply_server_ext(again, ext)
    assert render_server(again) == lines
    assert (again.drain_sticky, again.send_proxy, again.tls, again.check) == \
        (True, 1, 0, srv.check)
