"""The status page and USR1 text (pen(1) -w; penctl(1) status), and reading a status page back (penctl --json)."""
from __future__ import annotations

import re
from pathlib import Path

from support.control import make

from pen.core import stats
from pen.core.stats import ConnView

#: `penctl ... status` of C pen 0.34.1 with servers 127.0.0.1:10081 and :10082, captured
CAPTURE = Path(__file__).resolve().parents[3] / "support" / "captures" / "c-pen-0.34.1-status.html"


def populated():
    interp, fx = make()
    st = interp.state
    st.servers.servers[1].sx, st.servers.servers[1].rx = 316, 796
    st.current = 1
    c = st.clients.store("127.0.0.1", fx.clock - 4, 0)
    c.server, c.connects, c.csx, c.crx = 1, 6, 796, 316
    return interp, fx


def test_html_is_c_pens_layout_byte_for_byte() -> None:
    """Same data as C pen's captured page gives the same page (time line aside)."""
    interp, fx = populated()
    page = stats.html(fx.snapshot())
    expected = CAPTURE.read_text().replace("10081", "8081").replace("10082", "8082")
    strip = lambda t: re.sub(r"Time [0-9: -]+,", "Time X,", t)  # noqa: E731
    assert strip(page) == strip(expected)


def test_html_rows_for_connections_and_blacklist() -> None:
    interp, fx = populated()
    fx.conns[3] = ConnView(3, 2, 9, 11, 0, 1, 5, 6)
    interp.run("server 0 blacklist 60")
    snap = fx.snapshot()
    assert snap["servers"][0]["blacklisted"] and snap["servers"][0]["status"] == \
        int(1_700_000_000 + 30)
    page = stats.html(snap)
    assert "Number of connections: 500 max, 1 used, 4 last<p>" in page
    assert "<td>3</td>\n<td>9</td>\n<td>11</td>\n<td>5</td>\n<td>6</td>\n<td>0</td>\n<td>1</td>" \
        in page


def test_parse_html_reads_back_the_snapshot() -> None:
    interp, fx = populated()
    fx.conns[3] = ConnView(3, 2, 9, 11, 0, 1, 5, 6)
    snap = fx.snapshot()
    parsed = stats.parse_html(stats.html(snap))
    assert parsed["current"] == 1 and parsed["clients_max"] == 2048
    assert parsed["conn_max"] == 500 and parsed["conn_used"] == 1
    assert parsed["servers"][1] == {k: snap["servers"][1][k] for k in parsed["servers"][1]}
    assert parsed["clients"][0]["connects"] == 6
    assert parsed["connections"][0]["pending_up"] == 6
    assert parsed["time"] == snap["time"]


def test_parse_html_of_the_c_capture() -> None:
    parsed = stats.parse_html(CAPTURE.read_text())
    assert [s["port"] for s in parsed["servers"]] == [10081, 10082]
    assert parsed["servers"][1]["rx"] == 796 and parsed["clients"][0]["sx"] == 796
    assert parsed["connections"] == []


def test_text_report() -> None:
    interp, fx = populated()
    fx.conns[0] = ConnView(0, 2, 7, 8, 0, 1)
    records = stats.text(fx.snapshot())
    assert records[0].endswith("2 servers, 1 current")
    assert "Server 1 status:\naddress 127.0.0.1\n0\nport 8082\n0 connections (0 soft, 0 hard)\n" \
           "316 sent, 796 received\n" in records
    assert any(r.startswith("Client 0 status:\naddress 127.0.0.1\nsent 796, received 316") for r in records)
    assert "Connection 0 status:\ndownfd = 7, upfd = 8\npending data 0 down, 0 up\n" \
           "client 0, server 1\n" in records


def test_server_line_format() -> None:
    interp, _ = make()
    assert stats.server_line(interp.state.servers.servers[0]) == \
        "0 addr 127.0.0.1 port 8081 conn 0 max 0 hard 0 weight 0 prio 0 sx 0 rx 0\n"
