"""The state file's JSON document and the text ``penvrrp status`` prints from it.

Pure: the runtime hands in the instance objects and the wall-clock time; the same
document feeds both the file and the tests (which read counters, never logs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from penvrrp.core.fsm import Fsm
from penvrrp.core.rxcheck import DISCARD_COUNTERS
from penvrrp.core.tracking import TrackState

RX_FORM_COUNTERS = ("rx_pseudo_checksum", "rx_plain_checksum")


def instance_doc(fsm: Fsm, tracks: list[TrackState], wall_now: float, mono_now: float) -> dict[str, Any]:
    cfg = fsm.cfg
    counters = {name: fsm.counters.get(name, 0) for name in (*fsm.counters, *DISCARD_COUNTERS, *RX_FORM_COUNTERS)}
    return {
        "name": cfg.name,
        "state": fsm.state.value,
        "interface": cfg.interface,
        "vrid": cfg.vrid,
        "version": cfg.version,
        "priority": fsm.priority,
        "base_priority": cfg.priority,
        "vips": [str(v) for v in cfg.vips],
        "source": fsm.my_addr,
        "master": fsm.master_addr,
        "advert_interval": cfg.interval_cs / 100,
        "master_advert_interval": fsm.master_adver_cs / 100,
        "master_down_interval": round(fsm.master_down, 4),
        "preempt": cfg.preempt,
        "unicast_peers": list(cfg.unicast_peers),
        "since": wall_now - max(0.0, mono_now - fsm.last_transition),
        "seconds_in_state": round(max(0.0, mono_now - fsm.last_transition), 3),
        "tracking": [{"name": t.name, "ok": t.ok, "weight": t.weight, "detail": t.detail} for t in tracks],
        "counters": counters,
    }


STALE_INTERVALS = 3


def staleness(doc: dict[str, Any], wall_now: float, pid_alive: Callable[[int], bool]) -> str | None:
    """Why the document no longer describes a running agent, or None: its pid is gone, or
    it is older than 3 advert intervals (the agent writes it at least once per interval)."""
    pid = doc.get("pid")
    if isinstance(pid, int) and not pid_alive(pid):
        return f"penvrrp pid {pid} is not running"
    intervals = [float(i.get("advert_interval", 1.0)) for i in doc.get("instances", [])] or [1.0]
    limit = STALE_INTERVALS * max(intervals)
    age = wall_now - float(doc.get("written", 0.0))
    if age > limit:
        return f"state written {age:.1f} s ago, more than {STALE_INTERVALS} advert intervals ({limit:g} s): agent frozen?"
    return None


def render(doc: dict[str, Any], stale: str | None = None) -> str:
    """Human-readable status, one block per instance, non-zero counters only; a stale
    document says so first, and every state in it reads as what it was."""
    lines = [f"penvrrp pid {doc.get('pid', '?')}"]
    if stale:
        lines = [f"stale: {stale}; the states below are the last ones written"] + lines
    for inst in doc.get("instances", []):
        lines.append(
            f"{inst['name']}: {inst['state']} on {inst['interface']} vrid {inst['vrid']} v{inst['version']} "
            f"priority {inst['priority']} (configured {inst['base_priority']})")
        lines.append(f"  vips {' '.join(inst['vips'])}; source {inst['source']}; master {inst['master'] or '-'}")
        lines.append(f"  advert {inst['advert_interval']:g} s, master's {inst['master_advert_interval']:g} s, "
                     f"master down {inst['master_down_interval']:g} s, preempt {'on' if inst['preempt'] else 'off'}")
        for t in inst["tracking"]:
            ok = {True: "ok", False: "FAILED", None: "pending"}[t["ok"]]
            lines.append(f"  track {t['name']} weight {t['weight']}: {ok} {t['detail']}".rstrip())
        nonzero = [f"{k}={v}" for k, v in inst["counters"].items() if v]
        lines.append("  counters " + (" ".join(nonzero) if nonzero else "(all zero)"))
    return "\n".join(lines)
