"""penlogd.senders: which datagram senders penlogd listens to (docs/penlogd.md "Senders"):
loopback by default, the networks of -a otherwise, `any` as C penlogd."""
from __future__ import annotations

import pytest

from penlogd.senders import DEFAULT_ALLOW, Senders, parse_networks


def test_senders_default_is_loopback() -> None:
    s = Senders(parse_networks(DEFAULT_ALLOW))
    assert s.allowed("127.0.0.5") and s.allowed("::1") and s.allowed("::ffff:127.0.0.1")
    assert not s.allowed("192.0.2.1") and not s.allowed("garbage")
    assert [s.refuse("192.0.2.1") for _ in range(10)] == [True] + [False] * 8 + [True]
    s2 = Senders(parse_networks(["192.0.2.0/24", "2001:db8::/32"]))
    assert s2.allowed("192.0.2.77") and s2.allowed("2001:db8::5") and not s2.allowed("127.0.0.1")
    assert Senders(parse_networks(["any"])).allowed("203.0.113.1")
    with pytest.raises(ValueError, match="bogus"):
        parse_networks(["bogus"])


def test_an_address_with_a_zone_or_a_mapped_v4_is_read_as_its_network_says() -> None:
    s = Senders(parse_networks(["fe80::/10", "192.0.2.0/24"]))
    assert s.allowed("fe80::1%eth0")
    assert s.allowed("::ffff:192.0.2.9") and not s.allowed("::ffff:198.51.100.1")


def test_warnings_thin_out_per_sender() -> None:
    """1st, 10th, 100th, 1000th, then every 10,000th refusal of one address is worth a warning."""
    s = Senders(parse_networks(DEFAULT_ALLOW))
    warned = [n for n in range(1, 20001) if s.refuse("198.51.100.7")]
    assert warned == [1, 10, 100, 1000, 10000, 20000]
    assert s.refuse("198.51.100.8")              # counted per address
