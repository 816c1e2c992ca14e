"""Gratuitous ARP and unsolicited Neighbor Advertisements for the VIPs (RFC 5798 §6.4.2;
RFC 5227 for the ARP form, RFC 4861 §7.2.6 for the NA).

Frames are built with scapy once per VIP and written to an AF_PACKET socket bound to
the interface; pyroute2 cannot send them (netlink only).  Like keepalived by default,
the sender MAC is the interface's own MAC, not the VRRP virtual MAC.
"""

from __future__ import annotations

import logging
import socket

from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6NDOptDstLLAddr, IPv6
from scapy.layers.l2 import ARP, Ether

from penvrrp.core.config import Vip

log = logging.getLogger("penvrrp")

BROADCAST = "ff:ff:ff:ff:ff:ff"
ALL_NODES_MAC = "33:33:00:00:00:01"


def garp_frame(mac: str, vip: str) -> bytes:
    """ARP request, sender IP = target IP = VIP, to broadcast (keepalived's form, RFC 5227)."""
    return bytes(Ether(src=mac, dst=BROADCAST)
                 / ARP(op=1, hwsrc=mac, psrc=vip, hwdst=BROADCAST, pdst=vip))


def unsolicited_na_frame(mac: str, vip: str, src: str | None) -> bytes:
    """Unsolicited NA (RFC 4861 §7.2.6): S=0, O=1, target = VIP, target link-layer option."""
    return bytes(Ether(src=mac, dst=ALL_NODES_MAC)
                 / IPv6(src=src or vip, dst="ff02::1", hlim=255)
                 / ICMPv6ND_NA(R=0, S=0, O=1, tgt=vip)
                 / ICMPv6NDOptDstLLAddr(lladdr=mac))


class Announcer:
    """Pre-built frames for one instance's VIPs on one interface."""

    def __init__(self, ifname: str, mac: str, vips: tuple[Vip, ...], link_local: str | None) -> None:
        self.ifname = ifname
        self.frames = [garp_frame(mac, v.address) if v.family == socket.AF_INET
                       else unsolicited_na_frame(mac, v.address, link_local) for v in vips]
        self.sock: socket.socket | None = None

    def _socket(self) -> socket.socket:
        if self.sock is None:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
            sock.setblocking(False)
            sock.bind((self.ifname, 0))
            self.sock = sock
        return self.sock

    def send(self, count: int) -> int:
        """Send ``count`` rounds over all VIPs; returns frames sent.  Failures are logged,
        never raised: an ARP refresh is worth less than staying master."""
        sent = 0
        try:
            sock = self._socket()
            for _ in range(count):
                for frame in self.frames:
                    sock.send(frame)
                    sent += 1
        except OSError as exc:
            log.warning("gratuitous ARP/NA on %s failed: %s", self.ifname, exc)
            self.close()
        return sent

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
