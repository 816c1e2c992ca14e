"""Markup in every field pen can report must stay text: pen is configured with hostile file
names and server paths, and the page, the JSON and the metrics are read back."""
from __future__ import annotations

import json

from prometheus_client.parser import text_string_to_metric_families

from support.control import cmd, start_pen
from support.procs import wait_for
from support.webstats import FILE_MARKUP, HISTORY_INTERVAL, assert_inert, run_cgi, traffic

# a unix server path: no spaces (a control command line is split on them), but everything else
SERVER_PATH = "/run/\"'><script>alert(1)</script><svg/onload=alert(4)>&amp;"
EMERGENCY = "/run/<script>alert(5)</script>"


def test_hostile_names_are_inert_in_page_json_and_metrics(short_dir, backends) -> None:
    a, = backends("echo", "a")
    bad = str(short_dir / FILE_MARKUP)
    files = {"logfile": bad + ".log", "web_stats": bad + ".html", "pidfile": bad + ".pid",
             "control": bad + ".s"}
    pen, ctl = start_pen(short_dir, a.addr, control=files["control"],
                         opts=["-l", files["logfile"], "-w", files["web_stats"],
                               "-p", files["pidfile"], "-e", EMERGENCY],
                         history_interval=HISTORY_INTERVAL)
    try:
        assert cmd(ctl, f"server 1 address {SERVER_PATH} port 0") == ""
        traffic(pen, connections=2, size=1000)
        assert cmd(ctl, "status").startswith("<html>")       # the -w file gets written too

        page = run_cgi(ctl, env={"WEBSTATS_ACTIONS": "1", "WEBSTATS_SECRET": "k"})
        assert page.status == 200
        dom = assert_inert(page.text, [SERVER_PATH, EMERGENCY, *files.values()])
        row = dom.by_id("server-1")
        assert row is not None and SERVER_PATH in row.text
        assert "<script>" not in page.text and "<svg/onload" not in page.text
        assert "<img src=x" not in page.text

        data = run_cgi(ctl, "/api/status").json()
        st = data["status"]
        assert st["servers"][1]["address"] == SERVER_PATH
        assert {k: st["settings"][k] for k in files} == files
        # the history samples every HISTORY_INTERVAL: server 1 is in it from the first sample
        # after its address was set, which a fast run can reach before
        sampled = wait_for(lambda: json.loads(cmd(ctl, "history_json"))["servers"].get("1"),
                           5.0, 0.05, "a history sample with server 1")
        assert sampled["address"] == SERVER_PATH

        metrics = run_cgi(ctl, "/metrics").text
        fams = {f.name: f for f in text_string_to_metric_families(metrics)}
        addresses = {s.labels["address"] for s in fams["pen_server_connections"].samples}
        assert SERVER_PATH in addresses
    finally:
        pen.stop()
