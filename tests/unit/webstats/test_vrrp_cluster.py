"""The VRRP status contract, the cluster file, split-brain assessment and the HA views
(pure: no sockets)."""
from __future__ import annotations

import copy

import pytest

from support.webstats import assert_inert, vrrp_instance
from webstats import cluster, vrrp
from webstats.cluster import Node, NodeState
from webstats.ha_page import cluster_page, header_badges, vrrp_section
from webstats.markup import Markup

EVIL = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def doc(*instances: dict, node: str = "lb1") -> dict:
    return {"node": node, "instances": list(instances)}


def test_parse_the_contract() -> None:
    st = vrrp.parse(doc(vrrp_instance(), vrrp_instance("VI_52", "BACKUP", 100, 40, vrid=52,
                                                       up=False)))
    assert st.node == "lb1" and [i.name for i in st.instances] == ["VI_51", "VI_52"]
    b = st.instances[1]
    assert (b.vrid, b.state, b.priority, b.effective_priority) == (52, "BACKUP", 100, 40)
    assert b.vips == ("192.0.2.100/24",) and b.seconds_in_state == 42.5
    assert b.trackers[0].up is False


@pytest.mark.parametrize("mutate,why", [
    (lambda d: d.pop("node"), "'node' missing"),
    (lambda d: d.update(instances={}), "'instances' missing or not a list"),
    (lambda d: d["instances"][0].update(vrid="51"), "'vrid' missing or not an integer"),
    (lambda d: d["instances"][0].update(vrid=True), "'vrid' missing or not an integer"),
    (lambda d: d["instances"][0].update(priority=1.5), "'priority'"),
    (lambda d: d["instances"][0].update(seconds_in_state="long"), "'seconds_in_state'"),
    (lambda d: d["instances"][0].update(vips=[1]), "'vips' must be strings"),
    (lambda d: d["instances"][0]["trackers"][0].update(up="yes"), "'up' missing"),
    (lambda d: d["instances"].append(7), "instance 1: not an object"),
])
def test_off_contract_documents_say_what_is_wrong(mutate, why) -> None:
    d = doc(vrrp_instance())
    mutate(d)
    with pytest.raises(vrrp.VrrpError, match=why.replace("(", r"\(")):
        vrrp.parse(d)
    with pytest.raises(vrrp.VrrpError, match="not a JSON object"):
        vrrp.parse([d])


def test_only_http_urls() -> None:
    assert vrrp.check_url("http://192.0.2.11:9110/status.json")
    for bad in ("file:///etc/passwd", "ftp://x/y", "http:///status.json", "192.0.2.1:80"):
        with pytest.raises(vrrp.VrrpError):
            vrrp.check_url(bad)
    with pytest.raises(vrrp.VrrpError, match="file:///etc/passwd"):
        vrrp.fetch("file:///etc/passwd", 1.0)


def test_cluster_file_parsing() -> None:
    nodes = cluster.parse({"node": [{"name": "lb1", "control": "192.0.2.11:10080",
                                     "vrrp": "http://192.0.2.11:9110/status.json"},
                                    {"name": "lb2", "control": "192.0.2.12:10080"}]}, "c.toml")
    assert nodes == (Node("lb1", "192.0.2.11:10080", "http://192.0.2.11:9110/status.json"),
                     Node("lb2", "192.0.2.12:10080", None))
    for bad, why in (({}, "no \\[\\[node\\]\\] tables"),
                     ({"node": [{"name": "a"}]}, "'control'"),
                     ({"node": [{"name": "a", "control": "x:1", "vrrp": "file:///x"}]}, "http"),
                     ({"node": [{"name": "a", "control": "x:1", "colour": 1}]}, "'colour'"),
                     ({"node": [{"name": "a", "control": "x:1"}] * 2}, "unique"),
                     ({"nodes": []}, "unknown key 'nodes'")):
        with pytest.raises(cluster.ClusterError, match=why):
            cluster.parse(bad, "c.toml")


def _state(name: str, *instances: dict) -> NodeState:
    return NodeState(Node(name, f"{name}:10080", f"http://{name}/status.json"),
                     vrrp=vrrp.parse(doc(*instances, node=name)))


def test_assess_split_brain_and_no_master() -> None:
    ok = [_state("lb1", vrrp_instance()), _state("lb2", vrrp_instance(state="BACKUP"))]
    assert cluster.assess(ok) == []
    both = [_state("lb1", vrrp_instance()), _state("lb2", vrrp_instance())]
    assert cluster.assess(both) == ["VRID 51: lb1 and lb2 are all MASTER (split brain: see "
                                    "deploy/runbooks/split-brain.md)"]
    none = [_state("lb1", vrrp_instance(state="FAULT")), NodeState(Node("lb2", "x:1"))]
    assert cluster.assess(none) == ["VRID 51: no node is MASTER (the virtual address is down)"]


def test_views_escape_everything_and_show_unreachable_nodes() -> None:
    hostile = vrrp_instance(name=EVIL, state=EVIL)
    hostile["vips"] = [EVIL]
    hostile["trackers"] = [{"name": EVIL, "up": True}]
    status = vrrp.parse(doc(hostile, node=EVIL))
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
    page = cluster_page([_state("lb1", copy.deepcopy(hostile)), gone], "", 0, now=0)
    dom = assert_inert(page, [EVIL])
    cards = dom.find("article", "node")
    assert [c.attrs["data-pen"] for c in cards] == ["down", "down"]
    assert "pen unreachable" in cards[1].text and "Traceback" not in page
