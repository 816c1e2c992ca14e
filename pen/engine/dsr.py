"""The DSR shell: an AF_PACKET socket on `dsr_if`, in the reactor (docs/dataplane.md
"Direct Server Return").

Started instead of the TCP listener when `dsr_if IFACE` is given at start-up; the listen
argument is then `VIP[:port]` (no port, or 0: every port).  Each readable event handles up to
multi_accept frames (as dsr.c's max_pkts); ARP requests for server addresses go out every
second while a server's MAC is unknown and every 60 s after that.  A frame for a server whose
MAC is not known yet is held (up to HOLD_MAX frames) and sent once the ARP reply arrives.
The frame logic is pure, in pen.core.dsr.
"""
from __future__ import annotations

import errno
import ipaddress
import logging
import socket
import struct
import time
from collections import deque
from typing import TYPE_CHECKING

from pen.core import dsr as core
from pen.core.acl import FAMILY_V4
from pen.engine.reactor import EPOLLIN

if TYPE_CHECKING:
    from pen.engine.balancer import Balancer

log = logging.getLogger("pen")

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_AUXDATA = 8
PACKET_OUTGOING = 4
TP_STATUS_CSUMNOTREADY = 1 << 3
ARP_REFRESH = 60.0
HOLD_MAX = 256
MAX_FRAME = 65536


class DsrError(Exception):
    """DSR cannot start (no such interface, no CAP_NET_RAW, a bad VIP)."""


def parse_vip(listen: str) -> tuple[bytes, int]:
    """`VIP[:port]` -> (address bytes, port; 0 = all ports)."""
    host, _, port = listen.partition(":")
    try:
        vip = ipaddress.IPv4Address(host).packed
        number = int(port) if port else 0
        if not 0 <= number <= 65535:
            raise ValueError
    except ValueError:
        raise DsrError(f"DSR needs VIP[:port] as the listen address, not {listen!r}") from None
    return vip, number


class DsrShell:
    def __init__(self, bal: Balancer, ifname: str, listen: str) -> None:
        self.bal = bal
        self.ifname = ifname
        self.vip, self.port = parse_vip(listen)
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        except OSError as e:
            raise DsrError(f"dsr_if {ifname}: raw socket: {e.strerror} (needs CAP_NET_RAW)") \
                from None
        try:
            sock.bind((ifname, ETH_P_ALL))
            sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
            sock.setblocking(False)
            self.mac = sock.getsockname()[4][:6]
        except OSError as e:
            sock.close()
            raise DsrError(f"dsr_if {ifname}: {e.strerror}") from None
        if len(self.mac) != 6 or self.mac == b"\0" * 6:
            sock.close()
            raise DsrError(f"dsr_if {ifname}: not an Ethernet interface")
        self.sock = sock
        self.server_macs: dict[int, bytes] = {}
        self.arp_sent: dict[int, float] = {}
        self.held: deque[tuple[int, bytes]] = deque()
        self.index: list[int] | None = None
        self.index_key: tuple | None = None
        self.forwarded = self.tarpit_total = self.arp_answered = 0
        bal.reactor.add(sock.fileno(), EPOLLIN, self.on_frames)
        bal.reactor.every(1.0, self.send_arps)
        self.send_arps()
        log.info("DSR on %s (%s) for %s port %s", ifname, core.mac_text(self.mac),
                 core.ip4(self.vip), self.port or "any")

    # -- server choice --------------------------------------------------------------------------
    def choose(self, src: bytes, sport: int) -> int:
        st = self.bal.state
        weights = self.bal.dispatcher.available_weights(self.bal.reactor.now, socket.AF_INET)
        key = tuple(weights)
        if key != self.index_key:          # C built it once; we follow blacklists and weights
            self.index, self.index_key = core.hash_index(weights), key
        if self.index is None:
            return -1
        return self.index[core.dsr_hash(src, sport, st.settings.roundrobin)]

    def server_ip(self, index: int) -> bytes | None:
        srv = self.bal.state.servers.get(index)
        if srv is None or srv.family != socket.AF_INET or not isinstance(srv.sockaddr, tuple):
            return None
        return socket.inet_aton(srv.sockaddr[0])

    # -- frames ---------------------------------------------------------------------------------
    def on_frames(self, ev: int) -> None:
        for _ in range(max(1, self.bal.state.settings.multi_accept)):
            try:
                data, anc, _, addr = self.sock.recvmsg(MAX_FRAME, 64)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                log.warning("DSR: recv on %s: %s", self.ifname, e.strerror)
                return
            if addr[2] == PACKET_OUTGOING:
                continue
            if _csum_not_ready(anc):
                data = core.fill_l4_checksum(data)
            self.frame(data)

    def frame(self, data: bytes) -> None:
        kind = core.ethertype(data)
        if kind == core.ETH_P_ARP:
            self.arp(data)
        elif kind == core.ETH_P_IP:
            self.ipv4(data)

    def tarpitted(self, addr: bytes) -> bool:
        n = self.bal.state.settings.tarpit_acl
        if n < 0:
            return False
        return self.bal.state.acls.permits(n, FAMILY_V4, int.from_bytes(addr, "big"))

    def arp(self, data: bytes) -> None:
        arp = core.parse_arp(data)
        if arp is None:
            return
        if arp.oper == 1 and (arp.tpa == self.vip or self.tarpitted(arp.tpa)):
            self.send(core.arp_reply(arp, self.mac))
            self.arp_answered += 1
        elif arp.oper == 2:
            for srv in self.bal.state.servers.servers:
                if self.server_ip(srv.index) == arp.spa:
                    if self.server_macs.get(srv.index) != arp.sha:
                        log.info("DSR: server %d (%s) is at %s", srv.index, core.ip4(arp.spa),
                                 core.mac_text(arp.sha))
                    self.server_macs[srv.index] = arp.sha
            self.release_held()

    def ipv4(self, data: bytes) -> None:
        ip = core.parse_ipv4(data)
        if ip is None:
            return
        want = core.PROTO_UDP if self.bal.state.settings.udp else core.PROTO_TCP
        if ip.proto != want:
            return
        if ip.dst == self.vip:
            if self.port and ip.dport != self.port:
                return
            server = self.choose(ip.src, ip.sport)
            if server < 0:
                log.debug("DSR: no server for %s; frame dropped", core.ip4(ip.src))
                return
            mac = self.server_macs.get(server)
            if mac is None:
                if len(self.held) < HOLD_MAX:
                    self.held.append((server, data))
                return
            self.send(core.forward(data, self.mac, mac))
            self.forwarded += 1
        elif want == core.PROTO_TCP and self.tarpitted(ip.dst):
            reply = core.tarpit_synack(data)
            if reply is not None:
                self.send(reply)
                self.tarpit_total += 1

    def release_held(self) -> None:
        for _ in range(len(self.held)):
            server, data = self.held.popleft()
            mac = self.server_macs.get(server)
            if mac is None:
                self.held.append((server, data))
            else:
                self.send(core.forward(data, self.mac, mac))
                self.forwarded += 1

    def send(self, frame: bytes) -> None:
        try:
            self.sock.send(frame)
        except (BlockingIOError, InterruptedError):
            log.debug("DSR: send buffer full; frame dropped")
        except OSError as e:
            if e.errno != errno.EMSGSIZE:
                log.warning("DSR: send on %s: %s", self.ifname, e.strerror)
            else:
                log.warning("DSR: %d-byte frame exceeds the MTU of %s (turn off GRO: "
                            "ethtool -K %s gro off)", len(frame), self.ifname, self.ifname)

    def send_arps(self) -> None:
        now = time.monotonic()
        for srv in self.bal.state.servers.servers:
            ip = self.server_ip(srv.index)
            if ip is None or ip == b"\0\0\0\0":
                continue
            known = srv.index in self.server_macs
            last = self.arp_sent.get(srv.index, -1e9)
            if now - last >= (ARP_REFRESH if known else 1.0):
                self.send(core.arp_request(self.mac, ip))
                self.arp_sent[srv.index] = now

    def close(self) -> None:
        self.bal.reactor.remove(self.sock.fileno())
        self.sock.close()


def _csum_not_ready(ancillary: list) -> bool:
    for level, kind, data in ancillary:
        if level == SOL_PACKET and kind == PACKET_AUXDATA and len(data) >= 4:
            return bool(struct.unpack_from("I", data)[0] & TP_STATUS_CSUMNOTREADY)
    return False


def start(bal: Balancer, ifname: str, listen: str) -> DsrShell:
    shell = DsrShell(bal, ifname, listen)
    bal.listen_text = listen
    bal.on_exit.append(shell.close)
    return shell
