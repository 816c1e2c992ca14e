"""The HA views (pure, Markup out): the node's VRRP state beside pen's on the status page, and
the cluster page with every node of the pair, pen and penvrrp, on one screen."""
from __future__ import annotations

import time

from webstats.cluster import NodeState, assess
from webstats.fmt import count, short_duration
from webstats.markup import EMPTY, Markup, html
from webstats.page import CSS, FAVICON, NL
from webstats.vrrp import STATES, Instance, VrrpStatus


def state_badge(state: str) -> Markup:
    css = state.lower() if state in STATES else "unknown"
    return html('<span class="badge b-{}">{}</span>', css, state)


def header_badges(status: VrrpStatus | None, error: str, base: str,
                  cluster: bool) -> list[Markup]:
    out = []
    if status is not None:
        out += [html('<span class="vrrp" data-vrrp="{}">VRRP {} {}</span>', i.name, i.name,
                     state_badge(i.state)) for i in status.instances]
    elif error:
        out.append(Markup('<span class="vrrp">VRRP <span class="badge b-unknown">'
                          "unreachable</span></span>"))
    if cluster:
        out.append(html('<a href="{}/cluster">cluster</a>', base))
    return out


def _instances_table(instances: tuple[Instance, ...], ident: str) -> Markup:
    rows = []
    for i in instances:
        trackers = EMPTY.join(html('<span class="badge b-{}">{}</span> ', "up" if t.up else "down",
                                   t.name) for t in i.trackers) or Markup("–")
        prio = (html("{}", i.priority) if i.effective_priority == i.priority
                else html('{}<span class="sub">effective {}</span>', i.priority,
                          i.effective_priority))
        rows.append(html('<tr class="vrrp-instance" data-instance="{}" data-state="{}">'
                         '<td class="l">{}</td><td>{}</td><td class="l">{}</td><td>{}</td>'
                         '<td class="l path">{}</td><td>{}</td><td class="l">{}</td></tr>',
                         i.name, i.state, i.name, i.vrid, state_badge(i.state), prio,
                         " ".join(i.vips), short_duration(i.seconds_in_state), trackers))
    if not rows:
        rows.append(Markup('<tr><td class="l muted" colspan="7">no instances</td></tr>'))
    return html('<div class="scroll"><table class="vrrp" id="{}"><thead><tr>'
                '<th class="l">instance</th><th>vrid</th><th class="l">state</th>'
                '<th>priority</th><th class="l">virtual addresses</th><th>in state</th>'
                '<th class="l">tracking</th></tr></thead><tbody>{}</tbody></table></div>',
                ident, EMPTY.join(rows))


def vrrp_section(status: VrrpStatus | None, error: str) -> Markup:
    """The status page's VRRP part: this node's instances, or why they cannot be shown."""
    if status is None:
        return html('<section><h2>VRRP</h2><div class="note bad" id="vrrp-error">{}</div>'
                    "</section>", error or "no VRRP status")
    return html('<section><h2>VRRP <span class="muted">(node {})</span></h2>{}</section>',
                status.node, _instances_table(status.instances, "vrrp"))


def _pen_summary(st: NodeState) -> Markup:
    if st.pen is None:
        return html('<div class="note bad pen-error">pen unreachable: {}</div>', st.pen_error)
    status = st.pen.status
    servers = [s for s in status.get("servers", []) if isinstance(s, dict)]
    usable = sum(1 for s in servers if s.get("state", "up") in ("up", "full", "draining"))
    states = EMPTY.join(html('<span class="badge b-{}" title="{}">{}</span> ',
                             s.get("state", "up") if s.get("state", "up") in
                             ("up", "full", "draining", "blacklisted", "down", "unused")
                             else "unknown", s.get("address", ""), s.get("index", ""))
                        for s in servers)
    return html('<dl class="settings"><div><dt>pen</dt><dd>{} {}</dd></div>'
                "<div><dt>servers usable</dt><dd>{} of {}</dd></div>"
                "<div><dt>connections</dt><dd>{} of {}</dd></div>"
                "<div><dt>servers</dt><dd>{}</dd></div></dl>",
                "pen-ha" if st.pen.pen_ha else "C pen", status.get("version", ""), usable,
                len(servers), count(status.get("conn_used")), count(status.get("conn_max")),
                states or Markup("–"))


def _node_card(st: NodeState) -> Markup:
    node = st.node
    if st.vrrp is not None:
        vrrp_part = _instances_table(st.vrrp.instances, f"vrrp-{node.name}")
    elif node.vrrp:
        vrrp_part = html('<div class="note bad vrrp-error">{}</div>', st.vrrp_error)
    else:
        vrrp_part = Markup('<p class="muted">no VRRP status URL configured</p>')
    reachable = "up" if st.pen is not None else "down"
    return html('<article class="node" id="node-{}" data-node="{}" data-pen="{}">'
                '<h2>{} <span class="muted addr">{}</span></h2>{}<h3>VRRP</h3>{}</article>',
                node.name, node.name, reachable, node.name, node.control, _pen_summary(st),
                vrrp_part)


def cluster_page(states: list[NodeState], base: str, refresh: int,
                 now: float | None = None) -> Markup:
    out = [Markup('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'),
           Markup('<meta name="viewport" content="width=device-width, initial-scale=1">'),
           Markup('<meta name="color-scheme" content="light dark">'), FAVICON]
    if refresh > 0:
        out.append(html('<meta http-equiv="refresh" content="{}">', refresh))
    out.append(html("<title>pen-ha cluster · {} nodes</title><style>{}</style></head><body>"
                    '<main><header><h1>pen-ha cluster</h1><div class="meta"><a href="{}/">'
                    "this node's status</a></div></header>", len(states), Markup(CSS), base))
    out += [html('<div class="note bad" id="cluster-warning">{}</div>', w) for w in assess(states)]
    out.append(html('<section class="nodes" id="nodes">{}</section>',
                    EMPTY.join(_node_card(st) for st in states)))
    out.append(html('<footer><a href="{}/api/cluster">JSON</a><span>rendered {}</span></footer>'
                    "</main></body></html>", base,
                    time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now or time.time()))))
    return NL.join(out) + NL
