"""penvrrp.core.privileges: the start-up warning names what is missing, not "not root"."""
from __future__ import annotations

from penvrrp.core.privileges import missing

STATUS = "Name:\tpenvrrp\nCapInh:\t0000000000003000\nCapPrm:\t0000000000003000\nCapEff:\t{}\n"


def test_penvrrp_service_ambient_set_is_enough() -> None:
    assert missing(STATUS.format("0000000000003000")) == []          # NET_RAW + NET_ADMIN, no root
    assert missing(STATUS.format("000001ffffffffff")) == []          # root


def test_each_missing_capability_is_named_with_its_use() -> None:
    assert missing(STATUS.format("0000000000002000")) == ["CAP_NET_ADMIN (adding and removing the VIPs)"]
    assert missing(STATUS.format("0000000000000000")) == [
        "CAP_NET_RAW (raw protocol-112 sockets and gratuitous ARP)", "CAP_NET_ADMIN (adding and removing the VIPs)"]


def test_an_unreadable_status_warns_of_nothing() -> None:
    for text in ("", "Name:\tx\n", "CapEff:\t\n", "CapEff:\tzz\n", "CapEff:\t" + "f" * 40 + "\n"):
        assert missing(text) == []
