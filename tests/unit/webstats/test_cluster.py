"""webstats.cluster: the cluster file and the split-brain assessment (pure: no sockets)."""
from __future__ import annotations

import pytest

from support.webstats import node_state, vrrp_instance
from webstats import cluster
from webstats.cluster import Node, NodeState


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


def test_assess_split_brain_and_no_master() -> None:
    ok = [node_state("lb1", vrrp_instance()), node_state("lb2", vrrp_instance(state="BACKUP"))]
    assert cluster.assess(ok) == []
    both = [node_state("lb1", vrrp_instance()), node_state("lb2", vrrp_instance())]
    assert cluster.assess(both) == ["VRID 51: lb1 and lb2 are all MASTER (split brain: see "
                                    "deploy/runbooks/split-brain.md)"]
    none = [node_state("lb1", vrrp_instance(state="FAULT")), NodeState(Node("lb2", "x:1"))]
    assert cluster.assess(none) == ["VRID 51: no node is MASTER (the virtual address is down)"]
