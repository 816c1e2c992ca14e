"""One server's recent load as an inline SVG: connections above, throughput below.

No script, no external asset: plain SVG elements whose colours come from the page's CSS
classes (so dark mode works).  The page gives every chart the same x axis (the span of the
samples pen has, at most the window it keeps); text is escaped like everything from pen
(the SVG is webstats.markup's Markup, its values filled in by `html`).
"""
from __future__ import annotations

from pen.core.history import rates
from webstats.fmt import rate, short_duration
from webstats.markup import EMPTY, Markup, html

W, H = 320, 150
LEFT, RIGHT = 4, 316
PANELS = ((16, 64), (88, 134))         # (top, bottom) of the connections and throughput plots


def _scale(values: list[float]) -> float:
    top = max(values, default=0.0)
    return top if top > 0 else 1.0


def _xy(times: list[float], values: list[float], t0: float, t1: float, top: float,
        panel: tuple[int, int]) -> list[tuple[float, float]]:
    y0, y1 = panel
    span = (t1 - t0) or 1.0
    return [(LEFT + (RIGHT - LEFT) * min(1.0, max(0.0, (t - t0) / span)),
             y1 - (y1 - y0) * min(1.0, max(0.0, v / top))) for t, v in zip(times, values)]


def _line(points: list[tuple[float, float]]) -> str:
    return " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(points))


def _area(points: list[tuple[float, float]], base: int) -> str:
    if not points:
        return ""
    return (f"{_line(points)} L{points[-1][0]:.1f},{base} L{points[0][0]:.1f},{base} Z")


def _numbers(values: object) -> list[float]:
    if not isinstance(values, list):
        return []
    out = []
    for v in values:
        try:
            out.append(float(v))
        except (TypeError, ValueError):
            out.append(0.0)
    return out


def svg(index: object, series: dict | None, end: float, window: float, label: str) -> Markup:
    """The chart of one server; `series` is one entry of History.to_dict()["servers"].  The
    x axis runs from end - window to end (the same for every server on the page)."""
    series = series if isinstance(series, dict) else {}
    t = _numbers(series.get("t"))
    conn = _numbers(series.get("conn"))
    sent = rates(t, _numbers(series.get("sx")))
    recv = rates(t, _numbers(series.get("rx")))
    t1 = end if end else (t[-1] if t else 0.0)
    t0 = t1 - window
    title = (f"Server {index} ({label}): connections and throughput, last "
             f"{short_duration(window)}")
    parts = [html('<svg class="chart" viewBox="0 0 {} {}" role="img" data-server="{}" '
                  'data-samples="{}" xmlns="http://www.w3.org/2000/svg"><title>{}</title>',
                  W, H, str(index), len(t), title)]
    top_c = _scale(conn)
    top_b = _scale(sent + recv)
    for y0, y1 in PANELS:
        parts.append(html('<line class="grid" x1="{}" y1="{}" x2="{}" y2="{}"/>', LEFT, y1, RIGHT, y1))
        parts.append(html('<line class="grid faint" x1="{}" y1="{}" x2="{}" y2="{}"/>',
                          LEFT, y0, RIGHT, y0))
    parts.append(html('<text class="lbl" x="{}" y="11">connections · peak {}</text>', LEFT,
                      _count(max(conn, default=0))))
    parts.append(html('<text class="lbl" x="{}" y="83">throughput · peak {}</text>', LEFT,
                      rate(max(sent + recv, default=0))))
    if len(t) >= 1:
        pc = _xy(t, conn, t0, t1, top_c, PANELS[0])
        parts.append(html('<path class="conn-area" d="{}"/>', _area(pc, PANELS[0][1])))
        parts.append(html('<path class="conn-line" d="{}"/>', _line(pc)))
    if len(t) >= 2:
        ts = t[1:]
        parts.append(html('<path class="recv-line" d="{}"/>',
                          _line(_xy(ts, recv, t0, t1, top_b, PANELS[1]))))
        parts.append(html('<path class="sent-line" d="{}"/>',
                          _line(_xy(ts, sent, t0, t1, top_b, PANELS[1]))))
    else:
        parts.append(html('<text class="lbl muted" x="{}" y="{}" text-anchor="middle">'
                          "collecting samples…</text>", W // 2, (PANELS[1][0] + PANELS[1][1]) // 2))
    parts.append(html('<text class="axis" x="{}" y="{}">−{}</text>', LEFT, H - 2,
                      short_duration(window)))
    parts.append(html('<text class="axis" x="{}" y="{}" text-anchor="end">now</text>', RIGHT, H - 2))
    parts.append(Markup("</svg>"))
    return EMPTY.join(parts)


def _count(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:.1f}"
