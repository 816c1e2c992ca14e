"""DSR frame logic (pen/core/dsr.py), checked against scapy's dissectors and dsr.c's rules."""
from __future__ import annotations

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import ARP, Ether

from pen.core import dsr

OUR = bytes.fromhex("020000000001")
CLIENT = bytes.fromhex("020000000010")
SERVER = bytes.fromhex("020000000021")


def syn(dst: str = "192.0.2.100", dport: int = 80, options=None) -> bytes:
    opts = options if options is not None else [("MSS", 1460), ("SAckOK", b""),
                                                 ("Timestamp", (1, 0)), ("NOP", None),
                                                 ("WScale", 7)]
    return bytes(Ether(src=dsr.mac_text(CLIENT), dst=dsr.mac_text(OUR))
                 / IP(src="192.0.2.10", dst=dst)
                 / TCP(sport=40000, dport=dport, flags="S", seq=1000, window=64240,
                       options=opts))


def test_arp_request_and_reply() -> None:
    req = dsr.arp_request(OUR, dsr.ip4_bytes("192.0.2.21"))
    pkt = Ether(req)
    assert pkt.dst == "ff:ff:ff:ff:ff:ff" and pkt[ARP].op == 1
    assert pkt[ARP].pdst == "192.0.2.21" and pkt[ARP].psrc == "0.0.0.0"
    assert pkt[ARP].hwsrc == dsr.mac_text(OUR)
    who_has = bytes(Ether(src=dsr.mac_text(CLIENT), dst="ff:ff:ff:ff:ff:ff")
                    / ARP(op=1, hwsrc=dsr.mac_text(CLIENT), psrc="192.0.2.10",
                          pdst="192.0.2.100"))
    arp = dsr.parse_arp(who_has)
    assert arp is not None and arp.tpa == dsr.ip4_bytes("192.0.2.100")
    reply = Ether(dsr.arp_reply(arp, OUR))
    assert reply.dst == dsr.mac_text(CLIENT) and reply[ARP].op == 2
    assert reply[ARP].psrc == "192.0.2.100" and reply[ARP].hwsrc == dsr.mac_text(OUR)
    assert reply[ARP].pdst == "192.0.2.10" and reply[ARP].hwdst == dsr.mac_text(CLIENT)
    assert dsr.parse_arp(syn()) is None


def test_forward_rewrites_only_the_macs() -> None:
    frame = syn()
    out = dsr.forward(frame, OUR, SERVER)
    assert out[:6] == SERVER and out[6:12] == OUR and out[12:] == frame[12:]
    ip = dsr.parse_ipv4(frame)
    assert (ip.proto, ip.dport, ip.sport, ip.tcp_flags) == (6, 80, 40000, 0x02)


@pytest.mark.parametrize("options", [None, [], [("MSS", 1460)]])
def test_tarpit_synack_is_valid(options) -> None:
    reply = dsr.tarpit_synack(syn("192.0.2.200", 22, options))
    pkt = Ether(reply)
    assert pkt.src == dsr.mac_text(OUR) and pkt.dst == dsr.mac_text(CLIENT)
    assert pkt[IP].src == "192.0.2.200" and pkt[IP].dst == "192.0.2.10"
    tcp = pkt[TCP]
    assert (tcp.sport, tcp.dport, tcp.seq, tcp.ack) == (22, 40000, 42, 1001)
    assert tcp.flags == "SA" and tcp.window == 64240 and tcp.dataofs == 5
    # checksums as the receiver checks them: recompute with scapy and compare
    again = Ether(reply)
    del again[IP].chksum, again[TCP].chksum
    again = Ether(bytes(again))
    assert again[IP].chksum == pkt[IP].chksum and again[TCP].chksum == pkt[TCP].chksum


def test_tarpit_answers_only_syns() -> None:
    eth = Ether(src=dsr.mac_text(CLIENT), dst=dsr.mac_text(OUR))      # no ARP lookups
    ack = bytes(eth / IP(src="192.0.2.10", dst="192.0.2.200") / TCP(flags="A"))
    synack = bytes(eth / IP(src="192.0.2.10", dst="192.0.2.200") / TCP(flags="SA"))
    udp = bytes(eth / IP(src="192.0.2.10", dst="192.0.2.200") / UDP())
    assert dsr.tarpit_synack(ack) is None
    assert dsr.tarpit_synack(synack) is None
    assert dsr.tarpit_synack(udp) is None


@pytest.mark.parametrize("proto", ["tcp", "udp"])
def test_fill_l4_checksum(proto: str) -> None:
    layer = TCP(sport=1, dport=80, flags="PA") if proto == "tcp" else UDP(sport=1, dport=53)
    good = bytes(Ether(src=dsr.mac_text(CLIENT), dst=dsr.mac_text(OUR)) / IP(src="192.0.2.10", dst="192.0.2.100") / layer / b"payload!")
    at = 14 + 20 + (16 if proto == "tcp" else 6)
    partial = good[:at] + b"\x12\x34" + good[at + 2:]          # what offload leaves
    assert dsr.fill_l4_checksum(partial) == good


def c_rebuild_hash_index(weights: list[int | None]) -> list[int]:
    """dsr.c's loop, transcribed literally, as the reference."""
    s = [-1 if w is None else (w if w > 0 else 1) for w in weights]
    tw = sum(x for x in s if x != -1)
    t = 256
    for i in range(len(s)):
        if s[i] == -1:
            continue
        w = t * s[i] // tw
        t -= w
        tw -= s[i]
        s[i] = w
    index = [0] * 256
    t, j, i = 256, 0, 0
    while t:
        while s[j] <= 0:
            j += 1
        index[i] = j
        s[j] -= 1
        t -= 1
        i = (i + 3) % 256
    return index


@pytest.mark.parametrize("weights", [[1, 1], [0, 0, 0], [1, 3], [5, None, 2], [None, 7],
                                     [1, 2, 3, 4, 5, 6, 7]])
def test_hash_index_matches_c(weights) -> None:
    index = dsr.hash_index(weights)
    assert index == c_rebuild_hash_index(weights)
    live = [i for i, w in enumerate(weights) if w is not None]
    shares = {i: index.count(i) for i in live}
    total = sum((weights[i] or 1) for i in live)
    for i in live:                                   # proportional to weight
        assert abs(shares[i] - 256 * (weights[i] or 1) / total) <= 1
    assert dsr.hash_index([None, None]) is None


def test_hash_key() -> None:
    src = dsr.ip4_bytes("192.0.2.10")
    assert dsr.dsr_hash(src, 0x1234, False) == 192 ^ 0 ^ 2 ^ 10
    assert dsr.dsr_hash(src, 0x1234, True) == 192 ^ 0 ^ 2 ^ 10 ^ 0x12 ^ 0x34
