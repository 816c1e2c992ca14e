"""The bytes of one advert for an instance, and where it goes (multicast group or unicast peers).

Shared by the running instance and `penvrrp cleanup`, which must not wait for scapy's import
to resign for a killed agent.
"""
from __future__ import annotations

import socket

from penvrrp.core import packet
from penvrrp.core.config import InstanceConfig


def destinations(cfg: InstanceConfig) -> tuple[str, ...]:
    return cfg.unicast_peers or ((packet.MCAST_V4,) if cfg.family == socket.AF_INET else (packet.MCAST_V6,))


def advert_bytes(cfg: InstanceConfig, priority: int, src: str, dst: str) -> bytes:
    auth_type = packet.AUTH_PASS if cfg.auth_pass is not None else packet.AUTH_NONE
    auth = packet.password_bytes(cfg.auth_pass) if cfg.auth_pass is not None else bytes(8)
    adv = packet.Advert(cfg.version, cfg.vrid, priority, tuple(v.address for v in cfg.vips),
                        cfg.interval_cs, auth_type=auth_type, auth_data=auth)
    return packet.encode(adv, src, dst, cfg.checksum_mode)
