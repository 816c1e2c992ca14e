"""The cluster page's data: every node of the HA pair, its pen and its penvrrp.

The cluster file (TOML, `webstats --cluster FILE` or WEBSTATS_CLUSTER; docs/webstats.md):

    [[node]]
    name = "lb1"
    control = "192.0.2.11:10080"                       # pen's control port
    vrrp = "http://192.0.2.11:9110/status.json"       # penvrrp --metrics-listen (optional)

`parse` and `assess` are pure; `gather` asks every node at once (threads), each question
bounded by the timeout, so one dead node costs one timeout, not one per node.
"""
from __future__ import annotations

import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from webstats import source, vrrp

MAX_NODES = 16


class ClusterError(Exception):
    """The cluster file is unreadable or says something that cannot be used."""


@dataclass(frozen=True, slots=True)
class Node:
    """One [[node]] of the cluster file."""

    name: str
    control: str
    vrrp: str | None = None


@dataclass(slots=True)
class NodeState:
    node: Node
    pen: source.Live | None = None
    pen_error: str = ""
    vrrp: vrrp.VrrpStatus | None = None
    vrrp_error: str = ""


def parse(doc: dict, where: str) -> tuple[Node, ...]:
    nodes = doc.get("node")
    unknown = sorted(set(doc) - {"node"})
    if unknown:
        raise ClusterError(f"{where}: unknown key '{unknown[0]}' (expected [[node]] tables)")
    if not isinstance(nodes, list) or not nodes:
        raise ClusterError(f"{where}: no [[node]] tables")
    if len(nodes) > MAX_NODES:
        raise ClusterError(f"{where}: {len(nodes)} nodes, at most {MAX_NODES}")
    out = []
    for i, table in enumerate(nodes, 1):
        if not isinstance(table, dict):
            raise ClusterError(f"{where}: node {i} is not a table")
        extra = sorted(set(table) - {"name", "control", "vrrp"})
        if extra:
            raise ClusterError(f"{where}: node {i}: unknown key '{extra[0]}'")
        name, control, url = table.get("name"), table.get("control"), table.get("vrrp")
        if not isinstance(name, str) or not name.strip():
            raise ClusterError(f"{where}: node {i}: 'name' must be a non-empty string")
        if not isinstance(control, str) or not control.strip():
            raise ClusterError(f"{where}: node {name}: 'control' (pen's control port) is missing")
        if url is not None:
            if not isinstance(url, str):
                raise ClusterError(f"{where}: node {name}: 'vrrp' must be a URL")
            try:
                vrrp.check_url(url)
            except vrrp.VrrpError as exc:
                raise ClusterError(f"{where}: node {name}: {exc}") from None
        out.append(Node(name, control, url))
    names = [n.name for n in out]
    if len(set(names)) != len(names):
        raise ClusterError(f"{where}: node names must be unique")
    return tuple(out)


def load(path: str) -> tuple[Node, ...]:
    try:
        with open(path, "rb") as fh:
            return parse(tomllib.load(fh), path)
    except OSError as exc:
        raise ClusterError(f"cannot read cluster file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ClusterError(f"{path}: {exc}") from None


def assess(states: list[NodeState]) -> list[str]:
    """What an operator must see first: no master, or more than one (split brain)."""
    masters: dict[int, list[str]] = {}
    seen: set[int] = set()
    for st in states:
        for inst in st.vrrp.instances if st.vrrp else ():
            seen.add(inst.vrid)
            if inst.state == "MASTER":
                masters.setdefault(inst.vrid, []).append(st.node.name)
    warnings = []
    for vrid in sorted(seen):
        holders = masters.get(vrid, [])
        if len(holders) > 1:
            warnings.append(f"VRID {vrid}: {' and '.join(holders)} are all MASTER (split brain: "
                            "see deploy/runbooks/split-brain.md)")
        elif not holders:
            warnings.append(f"VRID {vrid}: no node is MASTER (the virtual address is down)")
    return warnings


def _ask(node: Node, timeout: float) -> NodeState:
    st = NodeState(node)
    try:
        st.pen = source.fetch(node.control, timeout, with_history=False)
    except source.SourceError as exc:
        st.pen_error = str(exc)
    except Exception as exc:         # a node answering nonsense is that node's problem only
        st.pen_error = f"pen control port {node.control}: unusable reply ({exc!r})"
    if node.vrrp:
        try:
            st.vrrp = vrrp.fetch(node.vrrp, timeout)
        except vrrp.VrrpError as exc:
            st.vrrp_error = str(exc)
    return st


def gather(nodes: tuple[Node, ...], timeout: float) -> list[NodeState]:
    with ThreadPoolExecutor(max_workers=len(nodes) or 1) as pool:
        return list(pool.map(lambda n: _ask(n, timeout), nodes))
