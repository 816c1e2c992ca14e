"""pen.core.peers.options: --peer, --peer-listen and --peer-key as pen reads them
(docs/peers.md "Options")."""
from __future__ import annotations

import pytest

from pen.core.peers.options import MIN_KEY, PeerConfigError, check, read_key, split


@pytest.mark.parametrize("text,default,expect", [
    ("10.0.0.2:7070", None, ("10.0.0.2", 7070)),
    ("[2001:db8::2]:7070", None, ("2001:db8::2", 7070)),
    ("peer-b.example:7070", None, ("peer-b.example", 7070)),
    ("7070", "0.0.0.0", ("0.0.0.0", 7070)),        # a listener: all addresses
    ("10.0.0.1:0", "0.0.0.0", ("10.0.0.1", 0)),    # a listener may take any free port
])
def test_addresses_that_are_taken(text: str, default: str | None,
                                  expect: tuple[str, int]) -> None:
    assert split(text, default) == expect


@pytest.mark.parametrize("text,default,why", [
    ("7070", None, "give HOST:PORT"),                       # a peer needs its host
    ("10.0.0.2:0", None, "1-65535"),                        # and a port to dial
    ("10.0.0.2:65536", None, "1-65535"),
    ("10.0.0.2:-1", None, "1-65535"),
    ("10.0.0.2:¹", None, "1-65535"),                        # a Unicode digit is no digit
    ("10.0.0.2:٧٠٧٠", None, "1-65535"),
    ("10.0.0.2:" + "9" * 5000, None, "1-65535"),            # never handed to int()
    ("10.0.0.2:", None, "1-65535"),
    (":7070", None, "no host"),
    ("pëer:7070", None, "bad host"),
    ("a b:7070", None, "bad host"),
    ("/run/pen/peer.sock", None, "not over a unix socket"),
    ("/run/pen/peer.sock", "0.0.0.0", "not over a unix socket"),
])
def test_addresses_that_are_refused_say_why(text: str, default: str | None, why: str) -> None:
    with pytest.raises(PeerConfigError, match=why):
        split(text, default)


def test_a_key_is_the_files_bytes_without_surrounding_white_space() -> None:
    """`head -c 32 /dev/urandom | base64 > FILE` ends in a newline on one node and maybe not
    on the other: both must be the same key."""
    secret = b"c2VjcmV0IHNlY3JldCBzZWNyZXQ="
    assert read_key(b"  " + secret + b"\n", "k") == read_key(secret, "k") == secret


def test_a_key_shorter_than_16_bytes_is_refused() -> None:
    assert read_key(b"x" * MIN_KEY, "k") == b"x" * MIN_KEY
    with pytest.raises(PeerConfigError, match="/etc/pen/peer.key: 15 bytes; at least 16"):
        read_key(b" " + b"x" * (MIN_KEY - 1) + b" \n", "/etc/pen/peer.key")


@pytest.mark.parametrize("listen", ["127.0.0.1:7070", "[::1]:7070"])
def test_a_loopback_listener_needs_no_key(listen: str) -> None:
    check(["10.0.0.2:7070"], listen, None)


@pytest.mark.parametrize("listen", ["7070", "0.0.0.0:7070", "10.0.0.1:7070"])
def test_a_listener_beyond_loopback_without_a_key_is_refused(listen: str) -> None:
    """Anyone who could reach it could rewrite the client table (docs/peers.md)."""
    with pytest.raises(PeerConfigError, match="needs --peer-key"):
        check([], listen, None)
    check([], listen, "/etc/pen/peer.key")
    check([], listen, "")          # an -F file may still give the key: addresses only


def test_every_peer_address_is_checked() -> None:
    with pytest.raises(PeerConfigError, match="'10.0.0.3': give HOST:PORT"):
        check(["10.0.0.2:7070", "10.0.0.3"], None, None)
