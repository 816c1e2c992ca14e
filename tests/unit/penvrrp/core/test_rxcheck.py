"""penvrrp.core.rxcheck: every RFC 9568 §7.1 check, each with its counter name."""

from __future__ import annotations

import pytest

from penvrrp.core import config, packet, rxcheck
from penvrrp.core.packet import Advert, PacketError

ME, PEER, MC = "192.0.2.1", "192.0.2.2", packet.MCAST_V4


def cfg(**kw: object) -> config.InstanceConfig:
    d: dict[str, object] = {"interface": "eth0", "vrid": 51, "vips": ["192.0.2.100/24"], "advert_int": 1}
    d.update(kw)
    return config.instance_from_dict(d)


def adv(version: int = 3, **kw: object) -> Advert:
    fields: dict[str, object] = {"version": version, "vrid": 51, "priority": 200, "addrs": ("192.0.2.100",),
                                 "interval_cs": 100}
    fields.update(kw)
    return Advert(**fields)  # type: ignore[arg-type]


def reason(c: config.InstanceConfig, raw: bytes, ttl: int = 255, src: str = PEER, dst: str = MC) -> str:
    with pytest.raises(PacketError) as err:
        rxcheck.check(c, src, dst, ttl, raw, ME)
    assert err.value.reason in rxcheck.DISCARD_COUNTERS
    return err.value.reason


def test_good_v3_and_v2() -> None:
    assert rxcheck.check(cfg(), PEER, MC, 255, packet.encode(adv(), PEER, MC), ME).advert.priority == 200
    c2 = cfg(version=2)
    assert rxcheck.check(c2, PEER, MC, 255, packet.encode(adv(2), PEER, MC), ME).advert.version == 2


def test_each_defect_has_its_counter() -> None:
    c = cfg()
    good = packet.encode(adv(), PEER, MC)
    assert reason(c, good, ttl=254) == "ip_ttl_errors"
    assert reason(c, good, ttl=1) == "ip_ttl_errors"
    assert reason(c, good[:-2]) == "packet_length_errors"
    bad = bytearray(good)
    bad[6] ^= 0x10
    assert reason(c, bytes(bad)) == "checksum_errors"
    assert reason(c, packet.encode(adv(vrid=52), PEER, MC)) == "vrid_errors"
    assert reason(c, packet.encode(adv(2), PEER, MC)) == "version_errors"
    assert reason(cfg(version=2), good) == "version_errors"
    assert reason(c, packet.encode(adv(type=2), PEER, MC)) == "invalid_type"
    assert reason(c, packet.encode(adv(addrs=("192.0.2.99",)), PEER, MC)) == "address_list_errors"
    assert rxcheck.check(cfg(check_vips=False), PEER, MC, 255,
                         packet.encode(adv(addrs=("192.0.2.99",)), PEER, MC), ME)


def test_v2_auth_and_interval() -> None:
    c = cfg(version=2, auth_pass="s3cr3t")
    right = packet.password_bytes("s3cr3t")
    ok = adv(2, auth_type=1, auth_data=right)
    assert rxcheck.check(c, PEER, MC, 255, packet.encode(ok, PEER, MC), ME)
    assert reason(c, packet.encode(adv(2, auth_type=1, auth_data=packet.password_bytes("wrong")), PEER, MC)) == "auth_failures"
    assert reason(c, packet.encode(adv(2), PEER, MC)) == "auth_type_mismatch"
    assert reason(cfg(version=2), packet.encode(ok, PEER, MC)) == "auth_type_mismatch"
    assert reason(c, packet.encode(adv(2, auth_type=7), PEER, MC)) == "invalid_auth_type"
    assert reason(cfg(version=2), packet.encode(adv(2, interval_cs=200), PEER, MC)) == "advert_interval_errors"
    # v3 learns intervals instead of refusing them
    assert rxcheck.check(cfg(), PEER, MC, 255, packet.encode(adv(interval_cs=20), PEER, MC), ME)


def test_strict_checksum() -> None:
    plain = packet.encode(adv(), PEER, MC, packet.CHECKSUM_PLAIN)
    assert rxcheck.check(cfg(), PEER, MC, 255, plain, ME).checksum_form == "plain"
    assert reason(cfg(strict_checksum=True), plain) == "checksum_errors"
    assert rxcheck.check(cfg(strict_checksum=True, checksum_mode="plain"), PEER, MC, 255, plain, ME)


def test_unicast_rules() -> None:
    c = cfg(unicast_src=ME, unicast_peers=[PEER])
    good = packet.encode(adv(), PEER, ME)
    assert rxcheck.check(c, PEER, ME, 255, good, ME)
    assert reason(c, packet.encode(adv(), PEER, MC), dst=MC) == "unicast_dst_errors"
    assert reason(c, packet.encode(adv(), "192.0.2.3", ME), src="192.0.2.3", dst=ME) == "unicast_src_rejected"
    assert reason(c, good, ttl=64, dst=ME) == "ip_ttl_errors"
    relaxed = cfg(unicast_src=ME, unicast_peers=[PEER], min_ttl=60, check_unicast_src=False)
    assert rxcheck.check(relaxed, PEER, ME, 64, good, ME)
    assert rxcheck.check(relaxed, "192.0.2.3", ME, 255, packet.encode(adv(), "192.0.2.3", ME), ME)
