"""Raw IP protocol-112 sockets for sending and receiving adverts (RFC 9568 §5.1: TTL 255 to
224.0.0.18 / ff02::12).

A kernel raw socket, not scapy: the kernel writes the IP header, demultiplexes
protocol 112, and with IP_MULTICAST_LOOP off we never read our own adverts.  The
socket is bound to the device, joins the VRRP group (without the join nothing
arrives: docs/penvrrp.md "Design") and is never bound to an address, because a raw
socket bound to an address would stop seeing 224.0.0.18; the source address is set
per packet with IP_PKTINFO / IPV6_PKTINFO instead.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

from penvrrp.core import packet

SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
IP_MULTICAST_ALL = 49
TOS_CS6 = 0xC0


@dataclass(slots=True, frozen=True)
class Received:
    src: str
    dst: str
    ttl: int
    payload: bytes


class VrrpSocket:
    """One raw socket on one interface for one address family."""

    def __init__(self, family: int, ifname: str, ifindex: int, multicast: bool) -> None:
        self.family = family
        self.ifindex = ifindex
        self.sock = socket.socket(family, socket.SOCK_RAW, packet.PROTO_VRRP)
        try:
            self._setup(ifname, multicast)
        except OSError:
            self.sock.close()
            raise

    def _setup(self, ifname: str, multicast: bool) -> None:
        s = self.sock
        s.setblocking(False)
        s.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, ifname.encode())
        if self.family == socket.AF_INET:
            s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, TOS_CS6)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 255)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
            # Only the groups this socket joined, not every group another process joined.
            s.setsockopt(socket.IPPROTO_IP, IP_MULTICAST_ALL, 0)
            mreqn = socket.inet_aton(packet.MCAST_V4) + socket.inet_aton("0.0.0.0") + struct.pack("=i", self.ifindex)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, mreqn)
            if multicast:
                s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn)
        else:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 255)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, self.ifindex)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
            if multicast:
                mreq = socket.inet_pton(socket.AF_INET6, packet.MCAST_V6) + struct.pack("=I", self.ifindex)
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    def send(self, payload: bytes, src: str, dst: str) -> None:
        """Send one advert from ``src`` (the primary / link-local / unicast_src address)."""
        if self.family == socket.AF_INET:
            pktinfo = struct.pack("=i4s4s", self.ifindex, socket.inet_aton(src), socket.inet_aton("0.0.0.0"))
            self.sock.sendmsg([payload], [(socket.IPPROTO_IP, IP_PKTINFO, pktinfo)], 0, (dst, 0))
        else:
            pktinfo = socket.inet_pton(socket.AF_INET6, src) + struct.pack("=I", self.ifindex)
            self.sock.sendmsg([payload], [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, pktinfo)], 0,
                              (dst, 0, 0, self.ifindex))

    def recv(self) -> Received:
        """One datagram; raises BlockingIOError when none is waiting, PacketError if malformed."""
        if self.family == socket.AF_INET:
            data = self.sock.recv(65535)
            src, dst, ttl, payload = packet.parse_ipv4(data)
            return Received(src, dst, ttl, payload)
        data, ancdata, _flags, addr = self.sock.recvmsg(65535, socket.CMSG_SPACE(64))
        hops, dst = -1, ""
        for level, ctype, cdata in ancdata:
            if level == socket.IPPROTO_IPV6 and ctype == socket.IPV6_HOPLIMIT:
                (hops,) = struct.unpack("=i", cdata[:4])
            elif level == socket.IPPROTO_IPV6 and ctype == socket.IPV6_PKTINFO:
                dst = socket.inet_ntop(socket.AF_INET6, cdata[:16])
        src = addr[0].split("%")[0]
        return Received(src, dst, hops, data)
