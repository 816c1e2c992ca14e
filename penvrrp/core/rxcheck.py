"""Receive validation of one advert against one instance (RFC 5798/9568 §7.1, RFC 3768 §7.1).

Order follows the RFC: TTL, version, length, checksum, VRID, (v2) auth and interval,
type, then the address list and the unicast source.  Every failure raises PacketError
whose ``reason`` is the counter it bumps (docs/penvrrp.md "Counters"), so a misconfigured
peer is never silent.
"""

from __future__ import annotations

import hmac

from penvrrp.core import packet
from penvrrp.core.config import InstanceConfig
from penvrrp.core.packet import PacketError

#: Every discard reason, so the status shows zeros rather than nothing.
DISCARD_COUNTERS = (
    "ip_ttl_errors", "version_errors", "packet_length_errors", "checksum_errors", "vrid_errors",
    "auth_type_mismatch", "auth_failures", "invalid_auth_type", "advert_interval_errors",
    "invalid_type", "address_list_errors", "unicast_src_rejected", "unicast_dst_errors",
)


def check(cfg: InstanceConfig, src: str, dst: str, ttl: int, payload: bytes,
          local_src: str) -> packet.Decoded:
    """Return the decoded advert if ``cfg`` must act on it, else raise PacketError."""
    if cfg.unicast:
        if ttl < cfg.min_ttl:
            raise PacketError("ip_ttl_errors", f"invalid TTL/HL {ttl}, expect at least {cfg.min_ttl}")
        if dst != local_src:
            raise PacketError("unicast_dst_errors", f"sent to {dst}, not to our unicast address {local_src}")
    elif ttl != 255:
        raise PacketError("ip_ttl_errors", f"invalid TTL/HL {ttl}, expect 255")
    strict = cfg.checksum_mode if cfg.strict_checksum else None
    decoded = packet.decode(payload, src, dst, strict)
    adv = decoded.advert
    if adv.version != cfg.version:
        raise PacketError("version_errors", f"wrong version {adv.version}, expect {cfg.version}")
    if adv.vrid != cfg.vrid:
        raise PacketError("vrid_errors", f"VRID {adv.vrid} is not ours ({cfg.vrid})")
    if adv.version == 2:
        _check_v2_auth(cfg, adv)
        if adv.interval_cs != cfg.interval_cs:
            raise PacketError("advert_interval_errors",
                              f"advert interval mismatch: mine {cfg.interval_cs // 100} s, received {adv.interval_cs // 100} s")
    if adv.type != packet.TYPE_ADVERT:
        raise PacketError("invalid_type", f"invalid packet type {adv.type}, expect 1")
    if cfg.check_vips and not packet.same_addresses(cfg.vip_addresses, adv.addrs):
        raise PacketError("address_list_errors",
                          f"address list {', '.join(adv.addrs) or '(none)'} differs from ours")
    if cfg.unicast and cfg.check_unicast_src and src not in cfg.unicast_peers:
        raise PacketError("unicast_src_rejected", f"unicast advert from {src}, not a configured peer")
    return decoded


def _check_v2_auth(cfg: InstanceConfig, adv: packet.Advert) -> None:
    want = packet.AUTH_PASS if cfg.auth_pass is not None else packet.AUTH_NONE
    if adv.auth_type not in (packet.AUTH_NONE, packet.AUTH_PASS, packet.AUTH_AH):
        raise PacketError("invalid_auth_type", f"unknown auth type {adv.auth_type}")
    if adv.auth_type != want:
        raise PacketError("auth_type_mismatch", f"received auth type {adv.auth_type}, expecting {want}")
    if want == packet.AUTH_PASS:
        assert cfg.auth_pass is not None
        if not hmac.compare_digest(adv.auth_data, packet.password_bytes(cfg.auth_pass)):
            raise PacketError("auth_failures", "invalid password")
