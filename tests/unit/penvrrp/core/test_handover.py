"""core.handover: the nft scripts of a graceful hand-over (docs/penvrrp.md "Hand-over").
That nft loads them and that they keep a connection open is tested in tests/netns
(test_penvrrp_failover, test_penvrrp_modes, lab/test_runbooks)."""
from __future__ import annotations

import pytest

from penvrrp.core import handover


def test_forward_rules_only_for_the_peers_family_and_never_twice() -> None:
    text = handover.forward_rules(51, "eth0", ["192.0.2.100", "192.0.2.101", "2001:db8::100"], "192.0.2.11")
    assert "table ip penvrrp_fwd_51 {" in text and "2001:db8" not in text
    rule = next(line for line in text.splitlines() if "dup to" in line)
    # own flows (conntrack saw their SYN) stay; a forwarded packet (TTL 1) is never forwarded again
    assert "tcp flags & syn == 0 ct state new,invalid" in rule and "ip ttl != 1" in rule
    assert rule.index("ip ttl set 2") < rule.index("dup to 192.0.2.11 device \"eth0\"") < rule.index("drop")
    assert "{ 192.0.2.100, 192.0.2.101 }" in rule and "fib daddr type local" in rule
    # re-loading replaces: the script declares, deletes, then recreates the table
    assert text.startswith("table ip penvrrp_fwd_51 {}\ndelete table ip penvrrp_fwd_51\n")
    six = handover.forward_rules(52, "eth0", ["2001:db8::100"], "fe80::1")
    assert "table ip6 penvrrp_fwd_52_v6" in six and "ip6 hoplimit != 1" in six
    assert handover.forward_rules(53, "eth0", ["2001:db8::100"], "192.0.2.11") == ""


def test_hide_rules_cover_arp_and_neighbour_discovery() -> None:
    text = handover.hide_rules(51, "eth0", ["192.0.2.100", "2001:db8::1"])
    assert "arp operation request arp daddr ip 192.0.2.100 drop" in text
    assert "arp saddr ip 192.0.2.100 drop" in text
    assert "nd-neighbor-solicit @th,64,128 0x20010db8000000000000000000000001 drop" in text
    assert "nd-neighbor-advert @th,64,128 0x20010db8000000000000000000000001 drop" in text


def test_remove_rules_name_every_table_and_odd_names_are_refused() -> None:
    text = handover.remove_rules(7)
    for table in ("ip penvrrp_fwd_7", "arp penvrrp_hide_7", "ip6 penvrrp_fwd_7_v6", "ip6 penvrrp_hide_7_v6"):
        assert f"delete table {table}\n" in text
    assert "fwd" not in handover.remove_rules(7, forward=False)
    with pytest.raises(ValueError):
        handover.forward_rules(1, 'eth"0', ["192.0.2.100"], "192.0.2.11")
