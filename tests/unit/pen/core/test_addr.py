"""Listen addresses and server specs (pen(1) SYNOPSIS; docs/pen.md "Addresses")."""
from __future__ import annotations

import pytest

from pen.core.addr import AddressError, Endpoint, ServerSpec, parse_int, parse_listen, parse_server


@pytest.mark.parametrize("text,expected", [
    ("8080", Endpoint("0.0.0.0", "8080")),
    ("127.0.0.1:8080", Endpoint("127.0.0.1", "8080")),
    ("::1:8080", Endpoint("::1", "8080")),
    (":::8080", Endpoint("::", "8080")),
    ("[::1]:8080", Endpoint("::1", "8080")),
    ("localhost:http", Endpoint("localhost", "http")),
    ("/run/pen.sock", Endpoint("/run/pen.sock", "", unix=True)),
])
def test_listen_forms(text: str, expected: Endpoint) -> None:
    assert parse_listen(text) == expected


def test_listen_default_host_for_control_port() -> None:
    assert parse_listen("10050", default_host="127.0.0.1") == Endpoint("127.0.0.1", "10050")


@pytest.mark.parametrize("text,why", [
    ("", "empty"), ("127.0.0.1:", "no port"), ("0", "must be 1-65535"),
    ("70000", "must be 1-65535"), ("[::1", "expected"), ("host:b@d", "bad port"),
])
def test_listen_errors(text: str, why: str) -> None:
    with pytest.raises(AddressError, match=why):
        parse_listen(text)


@pytest.mark.parametrize("text,expected", [
    ("www1", ServerSpec(Endpoint("www1", "80"))),
    ("www1:8000:10", ServerSpec(Endpoint("www1", "8000"), maxc=10)),
    ("10.0.0.1:8080:100:120:2:5", ServerSpec(Endpoint("10.0.0.1", "8080"), 100, 120, 2, 5)),
    ("[::1]:8080:0:0:3", ServerSpec(Endpoint("::1", "8080"), weight=3)),
    ("[2001:db8::1]", ServerSpec(Endpoint("2001:db8::1", "80"))),
    ("/srv/backend.sock", ServerSpec(Endpoint("/srv/backend.sock", "1", unix=True))),
    ("h:http", ServerSpec(Endpoint("h", "http"))),
])
def test_server_forms(text: str, expected: ServerSpec) -> None:
    assert parse_server(text, "80") == expected


@pytest.mark.parametrize("text,why", [
    ("h:80:x", "max 'x' is not a number"),
    ("h:80:1:-2", "hard '-2' is not a number"),
    ("h:80:1:2:3:4:5", "too many fields"),
    ("[::1", "missing"),
    ("[::1]x", "expected ':'"),
    (":80", "no host"),
    ("h:99999", "must be 1-65535"),
])
def test_server_errors(text: str, why: str) -> None:
    with pytest.raises(AddressError, match=why):
        parse_server(text, "80")


def test_server_without_port_behind_unix_listener_is_refused() -> None:
    with pytest.raises(AddressError, match="unix socket"):
        parse_server("10.0.0.1", "")


def test_parse_int() -> None:
    assert parse_int("5", "-t", 1) == 5
    with pytest.raises(AddressError, match="below the minimum"):
        parse_int("0", "-t", 1)
    with pytest.raises(AddressError, match="not a number"):
        parse_int("x", "-t")
