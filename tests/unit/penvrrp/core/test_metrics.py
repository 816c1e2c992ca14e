"""penvrrp.core.metrics: the /metrics and /status.json contract (docs/penvrrp.md "Metrics")."""
from __future__ import annotations

import json

import pytest

from penvrrp.core import config, metrics
from penvrrp.core.fsm import Fsm
from penvrrp.core.status import instance_doc
from penvrrp.core.tracking import TrackState


def _doc() -> dict:
    cfg = config.instance_from_dict({"interface": "eth0", "vrid": 51, "vips": ["192.0.2.100/24"], "priority": 150,
                                     "name": "VI_51"})
    fsm = Fsm(cfg, "192.0.2.1")
    fsm.start(0.0)
    fsm.tick(10.0)
    fsm.set_tracking(90, False, 10.5)
    fsm.counters["checksum_errors"] = 2
    tracks = [TrackState("pen:127.0.0.1:10080", -60, ok=False), TrackState("script:x", -100, ok=True)]
    return instance_doc(fsm, tracks, 1000.0, 12.0)


def test_prometheus_text_follows_the_contract() -> None:
    text = metrics.prometheus([_doc()])
    lines = set(text.splitlines())
    for want in ('penvrrp_instance_state{instance="VI_51",state="master"} 1',
                 'penvrrp_instance_state{instance="VI_51",state="backup"} 0',
                 'penvrrp_instance_state{instance="VI_51",state="init"} 0',
                 'penvrrp_instance_state{instance="VI_51",state="fault"} 0',
                 'penvrrp_effective_priority{instance="VI_51"} 90',
                 'penvrrp_priority{instance="VI_51"} 150',
                 'penvrrp_transitions_total{instance="VI_51"} 2',
                 'penvrrp_receive_errors_total{instance="VI_51",kind="checksum_errors"} 2',
                 'penvrrp_tracker_up{instance="VI_51",tracker="pen:127.0.0.1:10080"} 0',
                 'penvrrp_tracker_up{instance="VI_51",tracker="script:x"} 1',
                 "# TYPE penvrrp_adverts_sent_total counter"):
        assert want in lines, want
    sent = [ln for ln in lines if ln.startswith("penvrrp_adverts_sent_total{")]
    assert sent == ['penvrrp_adverts_sent_total{instance="VI_51"} 2']
    assert text.endswith("\n")
    named = metrics.prometheus([_doc()], "lb-\"1\"")
    assert 'penvrrp_node_info{node="lb-\\"1\\""} 1' in named.splitlines()


def test_status_json_follows_the_contract() -> None:
    doc = json.loads(metrics.status_json("lb1", [_doc()]))
    (inst,) = doc["instances"]
    assert doc["node"] == "lb1"
    assert {k: inst[k] for k in ("name", "vrid", "state", "priority", "effective_priority", "vips")} == {
        "name": "VI_51", "vrid": 51, "state": "MASTER", "priority": 150, "effective_priority": 90,
        "vips": ["192.0.2.100/24"]}
    assert inst["seconds_in_state"] == pytest.approx(2.0)
    assert inst["trackers"] == [{"name": "pen:127.0.0.1:10080", "up": False}, {"name": "script:x", "up": True}]
