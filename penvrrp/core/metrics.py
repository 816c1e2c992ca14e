"""penvrrp's metrics: Prometheus text (format 0.0.4) and /status.json, from the state documents.

Pure: fed the per-instance documents of penvrrp.core.status (the same ones the state file
holds), so the file, `penvrrp status`, /metrics and /status.json never disagree.  Names and
labels are a contract with webstats' VRRP display and cluster page (docs/penvrrp.md
"Metrics"): add to them, never rename.
"""
from __future__ import annotations

import json
from typing import Any

from penvrrp.core.rxcheck import DISCARD_COUNTERS

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STATES = ("init", "backup", "master", "fault")

_HELP = {
    "penvrrp_node_info": ("gauge", "always 1; the node label names this node (--node-name, default the hostname)"),
    "penvrrp_instance_state": ("gauge", "1 for the instance's current VRRP state, 0 for the others"),
    "penvrrp_effective_priority": ("gauge", "priority advertised now (configured, moved by trackers)"),
    "penvrrp_priority": ("gauge", "configured priority"),
    "penvrrp_transitions_total": ("counter", "state changes since start"),
    "penvrrp_adverts_sent_total": ("counter", "adverts sent"),
    "penvrrp_adverts_received_total": ("counter", "valid adverts received for this VRID"),
    "penvrrp_receive_errors_total": ("counter", "adverts discarded, by reason (docs/penvrrp.md Counters)"),
    "penvrrp_tracker_up": ("gauge", "1 while the tracked object succeeds"),
}


def contract_state(state: str) -> str:
    """STOP (the instance is shutting down) reads as INIT, as after the RFC's Shutdown event."""
    return "INIT" if state == "STOP" else state


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def prometheus(instances: list[dict[str, Any]], node: str | None = None) -> str:
    rows: dict[str, list[str]] = {name: [] for name in _HELP}

    def add(metric: str, labels: dict[str, str], value: float) -> None:
        text = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
        rows[metric].append(f"{metric}{{{text}}} {value:g}")

    if node is not None:
        rows["penvrrp_node_info"].append(f'penvrrp_node_info{{node="{_label(node)}"}} 1')
    for inst in instances:
        name = inst["name"]
        me = {"instance": name}
        current = contract_state(inst["state"]).lower()
        for state in STATES:
            add("penvrrp_instance_state", {**me, "state": state}, 1 if state == current else 0)
        add("penvrrp_effective_priority", me, inst["priority"])
        add("penvrrp_priority", me, inst["base_priority"])
        counters = inst.get("counters", {})
        add("penvrrp_transitions_total", me, counters.get("transitions", 0))
        add("penvrrp_adverts_sent_total", me, counters.get("adverts_sent", 0))
        add("penvrrp_adverts_received_total", me, counters.get("adverts_rcvd", 0))
        for kind in DISCARD_COUNTERS:
            add("penvrrp_receive_errors_total", {**me, "kind": kind}, counters.get(kind, 0))
        for t in inst.get("tracking", []):
            add("penvrrp_tracker_up", {**me, "tracker": t["name"]}, 1 if t["ok"] else 0)
    out = []
    for metric, (kind, help_text) in _HELP.items():
        out += [f"# HELP {metric} {help_text}", f"# TYPE {metric} {kind}", *rows[metric]]
    return "\n".join(out) + "\n"


def status_json(node: str, instances: list[dict[str, Any]]) -> str:
    doc = {"node": node, "instances": [{
        "name": inst["name"], "vrid": inst["vrid"], "state": contract_state(inst["state"]),
        "priority": inst["base_priority"], "effective_priority": inst["priority"],
        "vips": list(inst["vips"]), "seconds_in_state": round(float(inst.get("seconds_in_state", 0.0)), 3),
        "trackers": [{"name": t["name"], "up": bool(t["ok"])} for t in inst.get("tracking", [])],
        "master": inst.get("master"), "interface": inst.get("interface"),
    } for inst in instances]}
    return json.dumps(doc, indent=1) + "\n"
