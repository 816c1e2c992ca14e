"""The nftables rules of a graceful hand-over (docs/penvrrp.md "Hand-over"): pure text.

When the VIP moves, the connections still open through the old master have their next
packets sent to the new master (the client follows the gratuitous ARP), which has no socket
for them and would answer with a reset.  So for a moment:

* the new master forwards every TCP packet to a VIP that opens no connection (no SYN) and
  that its conntrack has not seen begin (``ct state new,invalid``) to the old master, unchanged
  but for the TTL (``dup to PEER`` + ``drop``, as the TEE target does): the old master still
  holds the VIP and its pen answers the client directly;
* the old master, while it lingers with the VIP (``release_delay``), neither answers ARP
  requests for it nor sends ARP from it (IPv6: neighbour solicitations and advertisements),
  so no client is pulled back.

A forwarded packet leaves with TTL 1 and a packet with TTL 1 is never forwarded again, so two
nodes that both forward (a quick switch back) cannot bounce a packet between them.  nft(8)
"DUP STATEMENT", "FIB EXPRESSIONS", "CONNTRACK EXPRESSIONS".
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable

FORWARD_MARGIN = 0.5     # seconds the new master forwards beyond the old master's release_delay


def table_names(vrid: int, family: int) -> tuple[str, str]:
    """(forward table, hide table) of one instance; ``family`` 4 or 6."""
    suffix = f"{vrid}" if family == 4 else f"{vrid}_v6"
    return f"penvrrp_fwd_{suffix}", f"penvrrp_hide_{suffix}"


def _q(name: str) -> str:
    """An interface name as an nft string literal (names are at most 15 bytes, no quote)."""
    if '"' in name or "\\" in name:
        raise ValueError(f"interface name {name!r} cannot be quoted for nft")
    return f'"{name}"'


def _split(vips: Iterable[str]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {4: [], 6: []}
    for v in vips:
        out[ipaddress.ip_address(v).version].append(v)
    return out


def _set(addrs: list[str]) -> str:
    return addrs[0] if len(addrs) == 1 else "{ " + ", ".join(addrs) + " }"


def forward_rules(vrid: int, interface: str, vips: Iterable[str], peer: str) -> str:
    """An ``nft -f`` script: forward the flows this node does not know to ``peer`` (the old
    master) through ``interface``.  Re-running it replaces the previous rules."""
    fam = ipaddress.ip_address(peer).version
    addrs = _split(vips)[fam]
    if not addrs:
        return ""
    fwd, _hide = table_names(vrid, fam)
    table, l3, ttl = ("ip", "ip daddr", "ip ttl") if fam == 4 else ("ip6", "ip6 daddr", "ip6 hoplimit")
    return (f"table {table} {fwd} {{}}\n"
            f"delete table {table} {fwd}\n"
            f"table {table} {fwd} {{\n"
            f"  chain prerouting {{\n"
            f"    type filter hook prerouting priority -150; policy accept;\n"
            f"    iifname {_q(interface)} {l3} {_set(addrs)} {ttl} != 1 fib daddr type local "
            f"tcp flags & syn == 0 ct state new,invalid counter {ttl} set 2 "
            f"dup to {peer} device {_q(interface)} drop\n"
            f"  }}\n"
            f"}}\n")


def hide_rules(vrid: int, interface: str, vips: Iterable[str]) -> str:
    """An ``nft -f`` script: this node keeps the VIPs but claims none of them on the link."""
    out = []
    by = _split(vips)
    if by[4]:
        _f, hide = table_names(vrid, 4)
        s = _set(by[4])
        out.append(f"table arp {hide} {{}}\n"
                   f"delete table arp {hide}\n"
                   f"table arp {hide} {{\n"
                   f"  chain input {{\n"
                   f"    type filter hook input priority 0; policy accept;\n"
                   f"    iifname {_q(interface)} arp operation request arp daddr ip {s} drop\n"
                   f"  }}\n"
                   f"  chain output {{\n"
                   f"    type filter hook output priority 0; policy accept;\n"
                   f"    oifname {_q(interface)} arp saddr ip {s} drop\n"
                   f"  }}\n"
                   f"}}\n")
    if by[6]:
        _f, hide = table_names(vrid, 6)
        targets = ", ".join(hex(int(ipaddress.ip_address(a))) for a in by[6])
        tset = targets if len(by[6]) == 1 else "{ " + targets + " }"
        # nft 1.0.6 has no `icmpv6 taddr`: the target address is the 128 bits at offset 64
        out.append(f"table ip6 {hide} {{}}\n"
                   f"delete table ip6 {hide}\n"
                   f"table ip6 {hide} {{\n"
                   f"  chain input {{\n"
                   f"    type filter hook input priority 0; policy accept;\n"
                   f"    iifname {_q(interface)} icmpv6 type nd-neighbor-solicit @th,64,128 {tset} drop\n"
                   f"  }}\n"
                   f"  chain output {{\n"
                   f"    type filter hook output priority 0; policy accept;\n"
                   f"    oifname {_q(interface)} icmpv6 type nd-neighbor-advert @th,64,128 {tset} drop\n"
                   f"  }}\n"
                   f"}}\n")
    return "".join(out)


def remove_rules(vrid: int, forward: bool = True, hide: bool = True) -> str:
    """An ``nft -f`` script removing this instance's tables (absent ones included)."""
    out = []
    for fam, table in ((4, "ip"), (6, "ip6")):
        fwd, hid = table_names(vrid, fam)
        if forward:
            out.append(f"table {table} {fwd} {{}}\ndelete table {table} {fwd}\n")
        if hide:
            t = "arp" if fam == 4 else "ip6"
            out.append(f"table {t} {hid} {{}}\ndelete table {t} {hid}\n")
    return "".join(out)
