"""webstats.chart: the SVG history chart."""
from __future__ import annotations

import re

from support.webstats import Dom
from webstats import chart


def series(n: int) -> dict:
    return {"address": "a", "t": [100.0 + 5 * k for k in range(n)], "conn": list(range(n)),
            "pending": [0] * n, "sx": [1000 * k for k in range(n)],
            "rx": [5000 * k for k in range(n)], "total": [0] * n, "failures": [0] * n}


def coords(d: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in re.findall(r"[ML]([\d.]+),([\d.]+)", d)]


def test_chart_plots_within_its_box_and_peaks_at_the_top() -> None:
    svg = chart.svg(0, series(10), 145.0, 900.0, "10.0.0.1:80")
    dom = Dom(svg)
    paths = {p.attrs["class"]: p.attrs["d"] for p in dom.find("path")}
    assert set(paths) == {"conn-area", "conn-line", "sent-line", "recv-line"}
    line = coords(paths["conn-line"])
    assert len(line) == 10
    assert all(chart.LEFT <= x <= chart.RIGHT and 0 <= y <= chart.H for x, y in line)
    assert line[-1] == (chart.RIGHT, chart.PANELS[0][0])       # newest, highest: top right
    assert min(y for _, y in coords(paths["recv-line"])) == chart.PANELS[1][0]
    assert "peak 9" in dom.text and "peak 1000 B/s" in dom.text     # 5000 B / 5 s
    assert "−15 min" in dom.text


def test_chart_without_samples_says_so() -> None:
    dom = Dom(chart.svg(3, None, 0.0, 900.0, "x"))
    assert dom.find("svg")[0].attrs["data-samples"] == "0"
    assert "collecting samples" in dom.text
    assert not dom.find("path", "sent-line")
