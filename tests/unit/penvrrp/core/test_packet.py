"""penvrrp.core.packet: golden vectors from keepalived 2.2.7 captures
and cross-checks against scapy's independent VRRP implementation."""

from __future__ import annotations

import struct

import pytest
from scapy.layers.inet import IP
from scapy.layers.inet6 import IPv6
from scapy.layers.vrrp import VRRP, VRRPv3

from penvrrp.core import packet
from penvrrp.core.packet import Advert, PacketError

SRC, MC = "192.0.2.1", packet.MCAST_V4


def v2(prio: int = 100, **kw: object) -> Advert:
    return Advert(2, 51, prio, ("192.0.2.100",), 100, **kw)  # type: ignore[arg-type]


def v3(prio: int = 100, interval: int = 100) -> Advert:
    return Advert(3, 51, prio, ("192.0.2.100",), interval)


def test_v2_matches_keepalived_capture() -> None:
    raw = packet.encode(v2(), SRC, MC)
    assert len(raw) == 20
    assert struct.unpack("!H", raw[6:8])[0] == 0xB865
    assert packet.decode(raw, SRC, MC).advert == v2()


def test_v3_pseudo_matches_keepalived_capture() -> None:
    raw = packet.encode(v3(), SRC, MC)
    assert len(raw) == 12
    assert struct.unpack("!H", raw[6:8])[0] == 0x0572
    dec = packet.decode(raw, SRC, MC)
    assert dec.advert == v3() and dec.checksum_form == packet.CHECKSUM_PSEUDO


def test_v3_plain_form_is_rfc9568_and_accepted() -> None:
    raw = packet.encode(v3(), SRC, MC, packet.CHECKSUM_PLAIN)
    assert packet.inet_checksum(raw) == 0
    assert packet.decode(raw, SRC, MC).checksum_form == packet.CHECKSUM_PLAIN
    with pytest.raises(PacketError) as err:
        packet.decode(raw, SRC, MC, strict_mode=packet.CHECKSUM_PSEUDO)
    assert err.value.reason == "checksum_errors"
    pseudo = packet.encode(v3(), SRC, MC)
    with pytest.raises(PacketError):
        packet.decode(pseudo, SRC, MC, strict_mode=packet.CHECKSUM_PLAIN)


@pytest.mark.parametrize("prio,interval,addrs", [(1, 1, ("192.0.2.9",)), (254, 4095, ("192.0.2.100", "198.51.100.7")),
                                                 (0, 20, ("203.0.113.1",) * 3)])
def test_v3_ipv4_checksum_equals_scapy(prio: int, interval: int, addrs: tuple[str, ...]) -> None:
    adv = Advert(3, 7, prio, addrs, interval)
    ours = packet.encode(adv, "192.0.2.2", "192.0.2.3")
    theirs = bytes(IP(bytes(IP(src="192.0.2.2", dst="192.0.2.3", ttl=255)
                            / VRRPv3(vrid=7, priority=prio, adv=interval, addrlist=list(addrs)))).payload)
    assert ours == theirs


def test_v3_ipv6_checksum_equals_scapy() -> None:
    src, addrs = "fe80::1", ("fe80::100", "2001:db8::100")
    adv = Advert(3, 9, 150, addrs, 20)
    ours = packet.encode(adv, src, packet.MCAST_V6)
    theirs = bytes(IPv6(bytes(IPv6(src=src, dst=packet.MCAST_V6, hlim=255)
                              / VRRPv3(vrid=9, priority=150, adv=20, addrlist=list(addrs)))).payload)
    assert ours == theirs
    assert packet.decode(ours, src, packet.MCAST_V6).advert == adv
    # IPv6 always uses the pseudo-header: the plain form is a checksum error
    plain = ours[:6] + struct.pack("!H", 0) + ours[8:]
    plain = plain[:6] + struct.pack("!H", packet.inet_checksum(plain)) + plain[8:]
    with pytest.raises(PacketError, match="checksum"):
        packet.decode(plain, src, packet.MCAST_V6)


def test_v2_with_password_equals_scapy() -> None:
    auth = packet.password_bytes("s3cr3t-longer-than-8")
    assert auth == b"s3cr3t-l"
    adv = v2(auth_type=packet.AUTH_PASS, auth_data=auth)
    a1, a2 = struct.unpack("!II", auth)
    theirs = bytes(VRRP(vrid=51, priority=100, addrlist=["192.0.2.100"], authtype=1, auth1=a1, auth2=a2))
    assert packet.encode(adv, SRC, MC) == theirs
    assert packet.decode(theirs, SRC, MC).advert == adv


def test_v2_ipv6_is_refused() -> None:
    with pytest.raises(ValueError):
        packet.encode(Advert(2, 1, 100, ("2001:db8::1",), 100), "fe80::1", packet.MCAST_V6)


@pytest.mark.parametrize("cut", [1, 2, 4, 8, 12])
def test_truncated_is_a_length_error(cut: int) -> None:
    raw = packet.encode(v2(), SRC, MC)
    with pytest.raises(PacketError) as err:
        packet.decode(raw[:-cut], SRC, MC)
    assert err.value.reason == "packet_length_errors"


def test_count_larger_than_addresses_is_a_length_error() -> None:
    raw = bytearray(packet.encode(v3(), SRC, MC))
    raw[3] = 2
    with pytest.raises(PacketError) as err:
        packet.decode(bytes(raw), SRC, MC)
    assert err.value.reason == "packet_length_errors"


def test_bad_checksum_and_bad_version() -> None:
    raw = bytearray(packet.encode(v3(), SRC, MC))
    raw[7] ^= 0xFF
    with pytest.raises(PacketError) as err:
        packet.decode(bytes(raw), SRC, MC)
    assert err.value.reason == "checksum_errors"
    raw = bytearray(packet.encode(v3(), SRC, MC))
    raw[0] = 0x41
    with pytest.raises(PacketError) as err:
        packet.decode(bytes(raw), SRC, MC)
    assert err.value.reason == "version_errors"


def test_checksum_covers_the_pseudo_header_addresses() -> None:
    raw = packet.encode(v3(), SRC, MC)
    with pytest.raises(PacketError):
        packet.decode(raw, "192.0.2.9", MC)


def test_parse_ipv4_strips_padding_and_reads_ttl() -> None:
    payload = packet.encode(v3(), SRC, MC)
    ip = bytes(IP(src=SRC, dst=MC, ttl=254, proto=112) / payload)
    src, dst, ttl, body = packet.parse_ipv4(ip + b"\0" * 6)
    assert (src, dst, ttl, body) == (SRC, MC, 254, payload)
    with pytest.raises(PacketError):
        packet.parse_ipv4(ip[:10])


def test_inet_checksum_odd_length() -> None:
    assert packet.inet_checksum(b"\x01") == 0xFEFF
    data = b"\x45\x00\x00\x1c"
    assert packet.inet_checksum(data + struct.pack("!H", packet.inet_checksum(data))) == 0
