"""webstats.ha_page: the HA views escape everything and show unreachable nodes."""
from __future__ import annotations

import copy

from support.webstats import assert_inert, node_state, vrrp_doc, vrrp_instance
from webstats import vrrp
from webstats.cluster import Node, NodeState
from webstats.ha_page import cluster_page, header_badges, vrrp_section
from webstats.markup import Markup


EVIL = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def test_views_escape_everything_and_show_unreachable_nodes() -> None:
    hostile = vrrp_instance(name=EVIL, state=EVIL)
    hostile["vips"] = [EVIL]
    hostile["trackers"] = [{"name": EVIL, "up": True}]
    status = vrrp.parse(vrrp_doc(hostile, node=EVIL))
    section = vrrp_section(status, "")
    assert isinstance(section, Markup)
    assert_inert(section, [EVIL])
    assert "b-unknown" in section                     # an unknown state gets no state style
    assert "vrrp-error" in vrrp_section(None, f"VRRP status http://x/: {EVIL}")
    assert_inert(vrrp_section(None, EVIL), [EVIL])
    badges = header_badges(status, "", "/ws", True)
    assert any('href="/ws/cluster"' in b for b in badges)
    gone = NodeState(Node(EVIL, EVIL, "http://192.0.2.9/status.json"), pen_error=EVIL,
                     vrrp_error=EVIL)
    page = cluster_page([node_state("lb1", copy.deepcopy(hostile)), gone], "", 0, now=0)
    dom = assert_inert(page, [EVIL])
    cards = dom.find("article", "node")
    assert [c.attrs["data-pen"] for c in cards] == ["down", "down"]
    assert "pen unreachable" in cards[1].text and "Traceback" not in page
