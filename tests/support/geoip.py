"""GeoIP database writers for the country-ACL tests (issue 11).

They produce tiny but real databases in the two formats pen reads (pen/core/geoip.py):
libGeoIP's legacy country edition and the MaxMind DB format, so the tests can map 127.x /
TEST-NET client addresses to countries.
"""
from __future__ import annotations

import ipaddress
from typing import Any

from pen.core.geoip import COUNTRY_BEGIN, LEGACY_CODES, MMDB_MARKER


class _Trie:
    """A binary trie of networks; leaves carry a value, None = no data."""

    def __init__(self) -> None:
        self.root: list[Any] = [None, None]

    def insert(self, network: int, prefix: int, bits: int, value: Any) -> None:
        node = self.root
        for depth in range(prefix):
            bit = (network >> (bits - 1 - depth)) & 1
            if depth == prefix - 1:
                node[bit] = ("leaf", value)
            else:
                child = node[bit]
                if not isinstance(child, list):
                    node[bit] = child = [child, child]      # split an existing leaf/empty
                node = child

    def nodes(self) -> list[list[Any]]:
        """Breadth-first numbering: node 0 is the root."""
        order, queue = [], [self.root]
        while queue:
            node = queue.pop(0)
            order.append(node)
            queue.extend(c for c in node if isinstance(c, list))
        return order


def _networks(entries: dict[str, str], v6: bool) -> list[tuple[int, int, str]]:
    out = []
    for cidr, cc in entries.items():
        net = ipaddress.ip_network(cidr)
        if net.version == 4 and v6:
            out.append((int(net.network_address), 96 + net.prefixlen, cc))
        elif net.version == (6 if v6 else 4):
            out.append((int(net.network_address), net.prefixlen, cc))
    # shorter prefixes first, so longer ones refine them
    return sorted(out, key=lambda t: t[1])


def legacy_country_db(entries: dict[str, str], v6: bool = False) -> bytes:
    """A libGeoIP country edition (type 1, or 12 for IPv6) mapping CIDRs to ISO codes."""
    bits = 128 if v6 else 32
    trie = _Trie()
    for network, prefix, cc in _networks(entries, v6):
        trie.insert(network, prefix, bits, LEGACY_CODES.index(cc))
    nodes = trie.nodes()
    index = {id(n): i for i, n in enumerate(nodes)}
    out = bytearray()
    for node in nodes:
        for child in node:
            if isinstance(child, list):
                value = index[id(child)]
            elif child is None:
                value = COUNTRY_BEGIN
            else:
                value = COUNTRY_BEGIN + child[1]
            out += value.to_bytes(3, "little")
    out += b"\x00\x00\x00pen-ha test database"
    out += b"\xff\xff\xff" + bytes([12 if v6 else 1])
    return bytes(out)


class U16(int):
    """An int the MaxMind DB writer encodes as uint16 (the metadata's types are fixed)."""


class U64(int):
    """An int encoded as uint64."""


def _mmdb_value(value: Any) -> bytes:
    """Encode a value in the MaxMind DB data format (maps, strings, uints)."""
    if isinstance(value, dict):
        body = b"".join(_mmdb_value(k) + _mmdb_value(v) for k, v in value.items())
        return _mmdb_ctrl(7, len(value)) + body
    if isinstance(value, list):
        return _mmdb_ctrl(11, len(value)) + b"".join(_mmdb_value(v) for v in value)
    if isinstance(value, str):
        raw = value.encode()
        return _mmdb_ctrl(2, len(raw)) + raw
    if isinstance(value, U16):
        raw = int(value).to_bytes(2, "big").lstrip(b"\0")
        return _mmdb_ctrl(5, len(raw)) + raw
    if isinstance(value, U64):
        raw = int(value).to_bytes(8, "big").lstrip(b"\0")
        return _mmdb_ctrl(9, len(raw)) + raw
    if isinstance(value, int):
        raw = value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big") if value else b""
        kind = 6 if value < 2 ** 32 else 9
        return _mmdb_ctrl(kind, len(raw)) + raw
    raise TypeError(value)


def _mmdb_ctrl(kind: int, size: int) -> bytes:
    if size < 29:
        head, extra = size, b""
    elif size < 285:
        head, extra = 29, bytes([size - 29])
    else:
        head, extra = 30, (size - 285).to_bytes(2, "big")
    if kind <= 7:
        return bytes([(kind << 5) | head]) + extra
    return bytes([head, kind - 7]) + extra


def mmdb_country_db(entries: dict[str, str], record_size: int = 28, ip_version: int = 6,
                    with_pointer: bool = True) -> bytes:
    """A MaxMind DB country database.  IPv4 networks go under ::/96 of an IPv6 tree.  With
    `with_pointer`, each record's data is reached through a data-section pointer, as real
    databases share common values."""
    v6 = ip_version == 6
    trie = _Trie()
    for network, prefix, cc in _networks(entries, v6):
        trie.insert(network, prefix, 128 if v6 else 32, cc)
    nodes = trie.nodes()
    n = len(nodes)
    index = {id(node): i for i, node in enumerate(nodes)}
    data = bytearray()
    offsets: dict[str, int] = {}
    for cc in sorted(set(entries.values())):
        target = len(data)
        data += _mmdb_value({"country": {"iso_code": cc, "geoname_id": 1000 + len(data)}})
        if with_pointer:
            offsets[cc] = len(data)
            assert target < 2048, "test databases stay small"
            data += bytes([(1 << 5) | (target >> 8), target & 0xFF])     # 11-bit pointer
        else:
            offsets[cc] = target
    tree = bytearray()
    for node in nodes:
        values = []
        for child in node:
            if isinstance(child, list):
                values.append(index[id(child)])
            elif child is None:
                values.append(n)
            else:
                values.append(n + 16 + offsets[child[1]])
        left, right = values
        if record_size == 24:
            tree += left.to_bytes(3, "big") + right.to_bytes(3, "big")
        elif record_size == 28:
            tree += (left & 0xFFFFFF).to_bytes(3, "big")
            tree += bytes([((left >> 24) << 4) | (right >> 24)])
            tree += (right & 0xFFFFFF).to_bytes(3, "big")
        else:
            tree += left.to_bytes(4, "big") + right.to_bytes(4, "big")
    meta = _mmdb_value({
        "node_count": n, "record_size": U16(record_size), "ip_version": U16(ip_version),
        "database_type": "pen-ha-Test-Country", "binary_format_major_version": U16(2),
        "binary_format_minor_version": U16(0), "build_epoch": U64(1700000000),
        "languages": ["en"], "description": {"en": "pen-ha test"},
    })
    return bytes(tree) + bytes(16) + bytes(data) + MMDB_MARKER + meta
