"""The status page: one self-contained HTML document (no script, no external asset).

Pure: `render(status, history, view)` -> Markup.  The page is built of `html(template, ...)`
pieces (webstats.markup): every value that comes from pen is escaped by default, inside
attributes and the SVG charts too, so a server address, a unix path or a file name cannot
become markup.  The page needs no JavaScript: auto-refresh is a meta refresh that a link
switches off (`?refresh=0`), and actions are plain POST forms carrying a CSRF token.
"""
from __future__ import annotations

import hashlib
import base64
import time
from dataclasses import dataclass, field
from webstats import chart
from webstats.fmt import count, rate, short_duration, size, uptime
from webstats.markup import EMPTY, Markup, escape, html

STATE_TEXT = {"up": "up", "full": "at limit", "draining": "draining",
              "blacklisted": "blacklisted", "down": "down (health check)", "unused": "unused"}
CLIENT_ROWS = 200
DONE = {"drain": "Server {n} is draining.", "undrain": "Server {n} takes new clients again.",
        "blacklist": "Server {n} is blacklisted.", "unblacklist": "Server {n} is no longer "
        "blacklisted.", "weight": "Server {n}'s weight was changed."}


e = escape     # the page's short name for it
NL = Markup("\n")


@dataclass(slots=True)
class View:
    """How to render: links, refresh, actions, a message after an action."""

    base: str = ""                     # SCRIPT_NAME: every link is base + "/..."
    refresh: int = 10                  # seconds; 0 = off
    default_refresh: int = 10
    actions: bool = False
    csrf: str = ""
    actions_note: str = ""             # why actions are unavailable although enabled
    done: str = ""                     # DONE key
    done_server: int = -1
    error: str = ""                    # pen could not be asked
    pen_ha: bool = True
    now: float = field(default_factory=time.time)
    header_extra: list[Markup] = field(default_factory=list)    # e.g. the node's VRRP state
    sections: list[Markup] = field(default_factory=list)        # after the cards


CSS = """
:root{--bg:#f6f7f9;--fg:#1b1f24;--muted:#5d6875;--card:#fff;--line:#dde1e6;--accent:#2563eb;
--ok:#15803d;--okbg:#dcfce7;--warn:#a16207;--warnbg:#fef3c7;--bad:#b91c1c;--badbg:#fee2e2;
--info:#6d28d9;--infobg:#ede9fe;--sent:#0891b2;--recv:#db2777}
@media (prefers-color-scheme:dark){:root{--bg:#0f1318;--fg:#e6e9ed;--muted:#95a0ad;--card:#171c23;
--line:#2a313b;--accent:#60a5fa;--ok:#4ade80;--okbg:#12301d;--warn:#facc15;--warnbg:#3a2f0a;
--bad:#f87171;--badbg:#3b1414;--info:#c4b5fd;--infobg:#2a1f47;--sent:#22d3ee;--recv:#f472b6}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.45 system-ui,-apple-system,
"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1200px;margin:0 auto;padding:16px}
header{display:flex;flex-wrap:wrap;align-items:baseline;gap:4px 16px;margin-bottom:12px}
h1{font-size:1.4rem;margin:0}h1 .addr{font-weight:400;color:var(--muted);word-break:break-all}
h2{font-size:1.05rem;margin:24px 0 8px}
.meta{color:var(--muted);font-size:.9rem;display:flex;flex-wrap:wrap;gap:4px 14px}
a{color:var(--accent)}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:10px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:10px 12px}
.card .k{color:var(--muted);font-size:.8rem}.card .v{font-size:1.35rem;font-weight:600}
.card .s{color:var(--muted);font-size:.8rem}
.scroll{overflow-x:auto;background:var(--card);border:1px solid var(--line);border-radius:10px}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:7px 10px;text-align:right;white-space:nowrap;border-bottom:1px solid var(--line)}
th{font-size:.78rem;color:var(--muted);font-weight:600;text-transform:uppercase;letter-spacing:.03em}
tr:last-child td{border-bottom:0}
th.l,td.l{text-align:left}td.path{white-space:normal;overflow-wrap:anywhere;min-width:12em;max-width:26em}
.badge{display:inline-block;padding:1px 8px;border-radius:999px;font-size:.8rem;font-weight:600}
.b-up{color:var(--ok);background:var(--okbg)}.b-full,.b-draining{color:var(--warn);background:var(--warnbg)}
.b-blacklisted,.b-down{color:var(--bad);background:var(--badbg)}
.b-unused,.b-unknown{color:var(--muted);background:var(--line)}
.sub{display:block;color:var(--muted);font-size:.75rem}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(290px,1fr));gap:10px}
figure{margin:0;background:var(--card);border:1px solid var(--line);border-radius:10px;padding:8px 10px}
figcaption{font-size:.85rem;display:flex;justify-content:space-between;gap:8px;margin-bottom:4px}
figcaption .who{font-weight:600;word-break:break-all}
svg.chart{width:100%;height:auto;display:block}
svg .grid{stroke:var(--line);stroke-width:1}svg .faint{stroke-dasharray:2 3}
svg .lbl,svg .axis{fill:var(--muted);font-size:10px}svg .axis{font-size:9px}
svg .conn-area{fill:var(--accent);opacity:.18}svg .conn-line{fill:none;stroke:var(--accent);stroke-width:1.6}
svg .sent-line{fill:none;stroke:var(--sent);stroke-width:1.4;stroke-dasharray:5 3}
svg .recv-line{fill:none;stroke:var(--recv);stroke-width:1.4}
.legend{font-size:.78rem;color:var(--muted)}.legend i{display:inline-block;width:10px;height:3px;
vertical-align:middle;margin:0 3px 0 8px}.legend .ks{background:var(--sent)}.legend .kr{background:var(--recv)}
.legend .kc{background:var(--accent)}
dl.settings{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:0 16px;
background:var(--card);border:1px solid var(--line);border-radius:10px;padding:8px 12px;margin:0}
dl.settings div{display:flex;justify-content:space-between;gap:8px;padding:5px 0;
border-bottom:1px dashed var(--line)}
dl.settings dt{color:var(--muted)}dl.settings dd{margin:0;text-align:right;word-break:break-all}
.note{padding:10px 12px;border-radius:10px;margin:10px 0}
.note.ok{background:var(--okbg);color:var(--ok)}.note.bad{background:var(--badbg);color:var(--bad)}
.note.info{background:var(--infobg);color:var(--info)}
details.act summary{cursor:pointer;color:var(--accent);font-size:.8rem;list-style:none}
details.act summary::-webkit-details-marker{display:none}details.act[open] summary{margin-bottom:4px}
form.act{display:flex;flex-wrap:wrap;gap:4px;justify-content:flex-end;align-items:center;max-width:17em}
form.act input{width:4.5em;padding:2px 4px;border:1px solid var(--line);border-radius:6px;
background:var(--bg);color:var(--fg)}
form.act button{padding:2px 8px;border:1px solid var(--line);border-radius:6px;background:var(--bg);
color:var(--fg);cursor:pointer;font-size:.8rem}form.act button:hover{border-color:var(--accent)}
.b-master{color:var(--ok);background:var(--okbg)}.b-backup{color:var(--info);background:var(--infobg)}
.b-fault{color:var(--bad);background:var(--badbg)}.b-init{color:var(--muted);background:var(--line)}
.vrrp{white-space:nowrap}h3{font-size:.95rem;margin:14px 0 6px}
.nodes{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,540px),1fr));gap:12px}
.node{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:10px 12px;min-width:0}
.node h2{margin:0 0 8px}.node .scroll,.node dl.settings{border-radius:8px}
footer{margin:28px 0 8px;color:var(--muted);font-size:.85rem;display:flex;flex-wrap:wrap;gap:4px 16px}
.muted{color:var(--muted)}
@media (max-width:640px){main{padding:10px}th,td{padding:6px 7px}h1{font-size:1.2rem}
.card .v{font-size:1.15rem}
table.servers thead{display:none}table.servers,table.servers tbody{display:block}
table.servers tr{display:grid;grid-template-columns:repeat(3,1fr);gap:4px 10px;padding:10px 12px;
border-bottom:1px solid var(--line)}table.servers tr:last-child{border-bottom:0}
table.servers td{border:0;padding:0;text-align:left;white-space:normal;min-width:0;max-width:none}
table.servers td::before{content:attr(data-label);display:block;font-size:.68rem;color:var(--muted);
text-transform:uppercase;letter-spacing:.03em}
table.servers td.addr{grid-column:span 2;overflow-wrap:anywhere;font-weight:600}
table.servers td.wide{grid-column:1/-1}form.act{justify-content:flex-start;max-width:none}}
"""
# no icon: without this the browser asks for /favicon.ico and logs the 404 on the console
FAVICON = Markup('<link rel="icon" href="data:,">')
CSS_HASH = "sha256-" + base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()
CSP = (f"default-src 'none'; style-src '{CSS_HASH}'; img-src 'self' data:; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def render(status: dict, history: dict | None, view: View) -> Markup:
    st = status if isinstance(status, dict) else {}
    eng = _dict(st.get("engine"))
    cfg = _dict(st.get("settings"))
    servers = [s for s in _list(st.get("servers")) if isinstance(s, dict)]
    listen = cfg.get("listen") or eng.get("listen") or ""
    out = [Markup("<!DOCTYPE html>"), Markup('<html lang="en"><head><meta charset="utf-8">'),
           Markup('<meta name="viewport" content="width=device-width, initial-scale=1">'),
           Markup('<meta name="color-scheme" content="light dark">'), FAVICON]
    if view.refresh > 0:
        out.append(html('<meta http-equiv="refresh" content="{}">', view.refresh))
    out.append(html("<title>pen {} · status</title><style>{}</style></head><body><main>",
                    listen, Markup(CSS)))
    out += _header(st, eng, listen, view)
    out += _notes(view)
    out += _cards(st, eng, servers, history)
    out += view.sections
    out += _server_table(servers, view, cfg)
    out += _charts(servers, history)
    out += _peers(_dict(st.get("peers")))
    out += _clients(st)
    out += _settings(st, cfg, eng)
    out.append(html('<footer><span>pen-ha {}</span><a href="{}/api/status">JSON</a>'
                    '<a href="{}/metrics">Prometheus metrics</a><span>rendered {}</span>'
                    "</footer></main></body></html>", st.get("version", ""), view.base,
                    view.base, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(view.now))))
    return NL.join(out) + NL


def _dict(v: object) -> dict:
    return v if isinstance(v, dict) else {}


def _list(v: object) -> list:
    return v if isinstance(v, list) else []


def _header(st: dict, eng: dict, listen: str, view: View) -> list[Markup]:
    meta = []
    if eng.get("uptime") is not None:
        meta.append(html("<span>up {}</span>", uptime(eng.get("uptime"))))
    meta.append(html("<span>mode {}</span>", _mode(st)))
    if eng.get("pid") is not None:
        meta.append(html("<span>pid {}</span>", eng.get("pid")))
    if view.refresh > 0:
        meta.append(html('<span>refreshing every {} s · '
                         '<a id="refresh-toggle" href="{}/?refresh=0">pause</a></span>',
                         view.refresh, view.base))
    else:
        meta.append(html('<span>auto-refresh off · <a id="refresh-toggle" '
                         'href="{}/?refresh={}">resume</a></span>', view.base,
                         view.default_refresh or 10))
    meta += view.header_extra
    return [html('<header><h1>pen <span class="addr">{}</span></h1><div class="meta">{}</div>'
                 "</header>", listen, EMPTY.join(meta))]


def _mode(st: dict) -> str:
    modes = _list(st.get("modes"))
    if modes:
        return ", ".join(str(m) for m in modes)
    return "default (client tracking)" if st.get("mode") is not None else "?"


def _notes(view: View) -> list[Markup]:
    out = []
    if view.error:
        out.append(html('<div class="note bad" id="error">{}</div>', view.error))
    if view.done in DONE:
        out.append(html('<div class="note ok" id="done">{}</div>',
                        DONE[view.done].format(n=view.done_server)))
    if not view.pen_ha:
        out.append(Markup('<div class="note info">This pen does not keep history or server '
                          "states (C pen): showing what its control port reports.</div>"))
    if view.actions_note:
        out.append(html('<div class="note info">{}</div>', view.actions_note))
    return out


def _card(key: str, value: object, sub: object = "", ident: str = "") -> Markup:
    i = html(' id="{}"', ident) if ident else EMPTY
    s = html('<div class="s">{}</div>', sub) if sub else EMPTY
    return html('<div class="card"{}><div class="k">{}</div><div class="v">{}</div>{}</div>',
                i, key, value, s)


def _cards(st: dict, eng: dict, servers: list[dict], history: dict | None) -> list[Markup]:
    usable = sum(1 for s in servers if s.get("state", "up") in ("up", "full", "draining"))
    configured = sum(1 for s in servers if s.get("configured", True))
    sent, recv = _throughput(history)
    cards = [
        _card("connections", count(st.get("conn_used")), f"of {count(st.get('conn_max'))}",
              "card-conns"),
        _card("clients", count(st.get("clients_used", len(_list(st.get("clients"))))),
              f"of {count(st.get('clients_max'))}"),
        _card("servers usable", usable, f"of {configured} configured", "card-servers"),
    ]
    if sent is not None and recv is not None:
        cards.append(_card("throughput", rate(sent + recv),
                           f"{rate(sent)} to servers · {rate(recv)} back"))
    if eng.get("connections_total") is not None:
        cards.append(_card("accepted", count(eng.get("connections_total")),
                           f"{count(eng.get('refused_total'))} refused"))
    if eng.get("queue_len") is not None:
        cards.append(_card("queue", count(eng.get("queue_len")),
                           f"{count(eng.get('queued_total'))} waited in all"))
    return [html('<section class="cards">{}</section>', EMPTY.join(cards))]


def _throughput(history: dict | None) -> tuple[float | None, float | None]:
    """Bytes per second over the last sample interval, all servers together."""
    servers = _dict(_dict(history).get("servers"))
    if not servers:
        return None, None
    sent = recv = 0.0
    for s in servers.values():
        s = _dict(s)
        t, sx, rx = _list(s.get("t")), _list(s.get("sx")), _list(s.get("rx"))
        try:
            if len(t) >= 2 and len(sx) >= 2 and len(rx) >= 2 and t[-1] > t[-2]:
                sent += max(0.0, (sx[-1] - sx[-2]) / (t[-1] - t[-2]))
                recv += max(0.0, (rx[-1] - rx[-2]) / (t[-1] - t[-2]))
        except TypeError:
            continue
    return sent, recv


def _state_cell(s: dict) -> Markup:
    state = str(s.get("state", "up" if not s.get("blacklisted") else "blacklisted"))
    css = state if state in STATE_TEXT else "unknown"
    label = STATE_TEXT.get(state, state)
    sub = EMPTY
    if state == "blacklisted":
        sub = html('<span class="sub">{} left</span>', short_duration(s.get("blacklist_left", 0)))
    elif s.get("check"):
        sub = html('<span class="sub">{} check: {}</span>', s.get("check"), s.get("health", ""))
    return html('<span class="badge b-{}">{}</span>{}', css, label, sub)


def _limits(s: dict) -> str:
    def one(v: object) -> str:
        return "–" if v in (0, None) else count(v)
    return f"{one(s.get('max'))} / {one(s.get('hard'))}"


def _server_table(servers: list[dict], view: View, cfg: dict) -> list[Markup]:
    """A table on wide screens; on phones each row becomes a small grid (CSS only), every
    cell labelled by its data-label."""
    head = [("#", "idx"), ("server", "l addr"), ("state", "l"), ("active", ""),
            ("limit soft / hard", ""), ("weight", ""), ("prio", ""), ("total", ""),
            ("failures", ""), ("sent", ""), ("received", "")]
    if view.actions:
        head.append(("actions", "wide"))
    out = [Markup('<section><h2>Servers</h2><div class="scroll">'
                  '<table class="servers" id="servers">'),
           html("<thead><tr>{}</tr></thead><tbody>",
                EMPTY.join(html('<th class="{}">{}</th>', c, h) for h, c in head))]
    for s in servers:
        idx = s.get("index")
        pending = s.get("pending") or 0
        active = escape(count(s.get("conn")))
        if pending:
            active += html('<span class="sub">+{} connecting</span>', count(pending))
        cells: list[object] = [idx, _where(s), _state_cell(s), active, _limits(s),
                               count(s.get("weight")), count(s.get("prio")),
                               count(s.get("total")), count(s.get("failures")),
                               size(s.get("sx")), size(s.get("rx"))]
        if view.actions:
            cells.append(_actions(s, view, cfg))
        classes = [c for _, c in head]
        classes[1] += _path_class(s)
        state = s.get("state", "up")
        out.append(html('<tr class="server s-{}" id="server-{}" data-server="{}" '
                        'data-state="{}">{}</tr>', state, idx, idx, state,
                        EMPTY.join(html('<td class="{}" data-label="{}">{}</td>', c, h, cell)
                                   for (h, _), c, cell in zip(head, classes, cells))))
    if not servers:
        out.append(html('<tr><td class="l muted" colspan="{}">no servers</td></tr>', len(head)))
    out.append(Markup("</tbody></table></div></section>"))
    return out


def _path_class(s: dict) -> str:
    address = s.get("address")
    return " path" if not isinstance(address, str) or len(address) > 24 else ""


def _where(s: dict) -> str:
    address, port = s.get("address", ""), s.get("port")
    if isinstance(address, str) and address.startswith("/"):
        return address                              # a unix socket path
    if isinstance(address, str) and ":" in address:
        return f"[{address}]:{port}"
    return f"{address}:{port}"


def _actions(s: dict, view: View, cfg: dict) -> Markup:
    drain = (Markup('<button name="action" value="undrain">undrain</button>') if s.get("drain")
             else Markup('<button name="action" value="drain">drain</button>'))
    black = (Markup('<button name="action" value="unblacklist">unblacklist</button>')
             if s.get("state") == "blacklisted" else
             html('<input name="seconds" type="number" min="1" max="86400" value="{}" '
                  'aria-label="seconds"><button name="action" value="blacklist">blacklist'
                  "</button>", cfg.get("blacklist") or 30))
    return html('<details class="act"><summary>manage</summary>'
                '<form class="act" method="post" action="{}/action">'
                '<input type="hidden" name="csrf" value="{}">'
                '<input type="hidden" name="server" value="{}">{}{}'
                '<input name="weight" type="number" min="0" max="1000000" value="{}" '
                'aria-label="weight"><button name="action" value="weight">set weight</button>'
                "</form></details>", view.base, view.csrf, s.get("index"), drain, black,
                s.get("weight", 0))


def _span(series: dict, window: float, interval: float) -> tuple[float, float]:
    """The common x axis: (last sample time, span of the samples, at most `window`)."""
    end, start = 0.0, None
    for s in series.values():
        t = _list(_dict(s).get("t"))
        if t and all(isinstance(x, (int, float)) for x in (t[0], t[-1])):
            end = max(end, float(t[-1]))
            start = float(t[0]) if start is None else min(start, float(t[0]))
    if start is None:
        return 0.0, window
    return end, min(window, max(end - start, 4 * interval, 1.0))


def _charts(servers: list[dict], history: dict | None) -> list[Markup]:
    hist = _dict(history)
    series = _dict(hist.get("servers"))
    try:
        interval = float(hist.get("interval", 5))
        window = interval * float(hist.get("capacity", 180))
    except (TypeError, ValueError):
        interval, window = 5.0, 900.0
    if history is None:
        return [Markup('<section><h2>Recent load</h2><p class="muted">No history from this '
                       "pen.</p></section>")]
    end, span = _span(series, window, interval)
    out = [html('<section><h2>Recent load <span class="muted">(last {}; a sample every {}, '
                '{} kept)</span></h2><p class="legend"><i class="kc"></i>connections'
                '<i class="ks"></i>to server<i class="kr"></i>from server</p>'
                '<div class="charts" id="charts">', short_duration(span),
                short_duration(interval), short_duration(window))]
    for s in servers:
        if s.get("configured") is False:
            continue
        idx = s.get("index")
        where = _where(s)
        out.append(html('<figure id="chart-{}"><figcaption><span class="who">{} · {}</span>'
                        '<span class="muted">{} active</span></figcaption>{}</figure>', idx,
                        idx, where, count(s.get("conn")),
                        chart.svg(idx, series.get(str(idx)), end, span, where)))
    out.append(Markup("</div></section>"))
    return out


def _peers(peers: dict) -> list[Markup]:
    """pen peers (docs/peers.md "Status"): one row per peer, drift spelled out."""
    if not peers.get("running"):
        return []
    out = [html('<section><h2>Peers <span class="muted">(listening on {}, key {})</span></h2>'
                '<div class="scroll"><table class="peers" id="peers"><thead><tr>'
                '<th class="l">peer</th><th>to it</th><th>from it</th><th>sent</th>'
                "<th>received</th><th>taken</th><th>last received</th><th>bad</th>"
                '<th class="l">drift</th></tr></thead><tbody>',
                peers.get("listen") or "-", "yes" if peers.get("key") else "no")]
    for p in _list(peers.get("peers")):
        if not isinstance(p, dict):
            continue
        drift = p.get("drift")
        age = p.get("last_received_age")
        out.append(html('<tr class="peer"><td class="l path">{}</td><td>{}</td><td>{}</td>'
                        "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
                        '<td class="l">{}</td></tr>', p.get("peer"),
                        "up" if p.get("connected") else "down",
                        "up" if p.get("incoming") else "down", count(p.get("sent")),
                        count(p.get("received")), count(p.get("taken")),
                        short_duration(age) + " ago" if isinstance(age, (int, float)) else "",
                        count(p.get("bad")),
                        "not known yet" if drift is None else ("; ".join(map(str, drift))
                                                               or "none")))
    out.append(Markup("</tbody></table></div></section>"))
    return out


def _clients(st: dict) -> list[Markup]:
    clients = [c for c in _list(st.get("clients")) if isinstance(c, dict)]
    clients.sort(key=lambda c: c.get("age", 0) if isinstance(c.get("age", 0), (int, float)) else 0)
    out = [html('<section><h2>Clients <span class="muted">({} of {})</span></h2>'
                '<div class="scroll"><table class="clients" id="clients"><thead><tr>'
                '<th>#</th><th class="l">address</th><th>last seen</th><th>server</th>'
                "<th>connects</th><th>sent to it</th><th>received</th></tr></thead><tbody>",
                len(clients), count(st.get("clients_max")))]
    for c in clients[:CLIENT_ROWS]:
        age = c.get("age")
        out.append(html('<tr class="client"><td>{}</td><td class="l path">{}</td><td>{}</td>'
                        "<td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", c.get("index"),
                        c.get("address"), short_duration(age) + " ago" if age is not None else "",
                        c.get("last_server", ""), count(c.get("connects")), size(c.get("sx")),
                        size(c.get("rx"))))
    if len(clients) > CLIENT_ROWS:
        out.append(html('<tr><td class="l muted" colspan="7">and {} more (see JSON)</td></tr>',
                        len(clients) - CLIENT_ROWS))
    if not clients:
        out.append(Markup('<tr><td class="l muted" colspan="7">no clients yet</td></tr>'))
    out.append(Markup("</tbody></table></div></section>"))
    return out
SETTING_LABELS = (
    ("listen", "listening on"), ("control", "control port"), ("blacklist", "blacklist time"),
    ("timeout", "connect timeout"), ("tracking", "client tracking"),
    ("clients_max", "client table"), ("conn_max", "connection slots"),
    ("idle_timeout", "idle timeout"), ("http", "HTTP mode"), ("udp", "UDP mode"),
    ("tls", "TLS"), ("hash_method", "hash method"), ("queue_max", "wait queue"),
    ("queue_timeout", "queue timeout"), ("send_proxy", "PROXY to servers"),
    ("accept_proxy", "accept PROXY"), ("transparent", "transparent"), ("source", "source"),
    ("emergency", "emergency server"), ("abuse", "abuse server"), ("logfile", "log"),
    ("web_stats", "status file"), ("config_file", "config file"), ("pidfile", "pid file"),
    ("debug", "debug"))
SECONDS = ("blacklist", "timeout", "tracking", "idle_timeout", "queue_timeout")


def _settings(st: dict, cfg: dict, eng: dict) -> list[Markup]:
    rows = [("mode", _mode(st))]
    for key, label in SETTING_LABELS:
        if key not in cfg:
            continue
        v = cfg[key]
        if isinstance(v, bool):
            v = "on" if v else "off"
        elif v is None or v == "":
            v = "–"
        elif key in SECONDS and isinstance(v, (int, float)):
            v = f"{count(v)} s" if v else "off"
        rows.append((label, v))
    for key, label in (("version", "pen-ha version"), ("started", "started")):
        v = eng.get(key)
        if v is not None:
            if key == "started" and isinstance(v, (int, float)):
                v = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(v))
            rows.append((label, v))
    items = EMPTY.join(html("<div><dt>{}</dt><dd>{}</dd></div>", k, v) for k, v in rows)
    return [html('<section><h2>Settings</h2><dl class="settings" id="settings">{}</dl>'
                 "</section>", items)]


def message_page(title: str, text: str, base: str) -> Markup:
    """A minimal page for errors and refusals (same look, no data from pen)."""
    return html('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
                '<meta name="viewport" content="width=device-width, initial-scale=1">'
                '{}<title>{}</title><style>{}</style></head><body><main>'
                '<h1>{}</h1><p class="note bad">{}</p>'
                '<p><a href="{}/">back to the status page</a></p></main></body></html>\n',
                FAVICON, title, Markup(CSS), title, text, base)
