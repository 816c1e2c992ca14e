"""Prometheus text from the live status, read back with prometheus_client's own parser."""
from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from support.control import make
from pen.core import livestatus
from pen.core.formats import metrics


def families(text: str) -> dict:
    out = {}
    for fam in text_string_to_metric_families(text):
        assert fam.name not in out, f"two families named {fam.name}"
        out[fam.name] = fam
    return out


def status(interp, fx, **engine) -> dict:
    snap = fx.snapshot()
    snap["engine"] = engine
    return livestatus.status_data(interp.state, snap, fx.now(), fx.listen_text(), "9.9")


def values(fam) -> dict:
    return {s.labels.get("server"): s.value for s in fam.samples}


def test_per_server_families_and_values() -> None:
    interp, fx = make(specs=("127.0.0.1:8081", "127.0.0.1:8082"))
    srv = interp.state.servers.servers
    srv[0].c, srv[0].sx, srv[0].rx, srv[0].total, srv[0].failures = 3, 1000, 2000, 40, 2
    interp.run("server 1 blacklist 10")
    text = metrics.render(status(interp, fx, connections_total=41, refused_total=1, queue_len=0,
                                 queued_total=0, uptime=12.5, started=1.7e9, listen="x:1",
                                 protocol="tcp", accepting=True, open_fds=9, rss_bytes=1 << 20,
                                 cpu_seconds=0.5))
    f = families(text)
    assert values(f["pen_server_connections"]) == {"0": 3, "1": 0}
    assert values(f["pen_server_connections_established"]) == {"0": 40, "1": 0}
    assert f["pen_server_connections_established"].type == "counter"
    assert values(f["pen_server_bytes_sent"]) == {"0": 1000, "1": 0}
    assert values(f["pen_server_bytes_received"]) == {"0": 2000, "1": 0}
    assert values(f["pen_server_connect_failures"]) == {"0": 2, "1": 0}
    assert values(f["pen_server_blacklisted"]) == {"0": 0, "1": 1}
    assert values(f["pen_server_up"]) == {"0": 1, "1": 0}
    assert values(f["pen_server_blacklist_remaining_seconds"])["1"] == 10
    states = {(s.labels["server"], s.labels["state"]): s.value
              for s in f["pen_server_state"].samples}
    assert states[("1", "blacklisted")] == 1 and states[("1", "up")] == 0
    assert sum(v for (n, _), v in states.items() if n == "0") == 1
    assert f["pen_connections_accepted"].samples[0].value == 41
    assert f["pen_uptime_seconds"].samples[0].value == 12.5
    assert f["pen_clients"].samples[0].value == 0
    assert f["process_open_fds"].samples[0].value == 9
    info = f["pen_info"].samples[0].labels
    assert info["version"] == "9.9" and info["c_version"] == "0.34.1"
    assert info["listen"] == "127.0.0.1:8080"


def test_missing_engine_facts_are_left_out_not_invented() -> None:
    interp, fx = make()
    f = families(metrics.render(status(interp, fx)))
    assert "pen_uptime_seconds" not in f and "process_open_fds" not in f
    assert "pen_server_connections" in f


def test_hostile_label_values_round_trip() -> None:
    hostile = 'a"b\\c\nd} evil_metric 1'
    interp, fx = make(specs=())
    assert interp.run("server 0 address /tmp/x port 0").error is None
    st = status(interp, fx, listen=hostile, protocol="unix", accepting=True)
    st["servers"][0]["address"] = hostile
    f = families(metrics.render(st))
    assert "evil_metric" not in f
    assert f["pen_server_connections"].samples[0].labels["address"] == hostile
    assert f["pen_listener_info"].samples[0].labels["address"] == hostile


def test_peer_families() -> None:
    interp, fx = make()

    class Hook:
        def status(self, now: float) -> dict:
            return {"running": True, "peers": [
                {"peer": "192.0.2.12:7070", "connected": True, "incoming": True, "sent": 5,
                 "received": 7, "taken": 6, "bad": 1, "drift": ["x"], "last_received_age": 0.5},
                {"peer": "192.0.2.13:7070", "connected": False, "incoming": False, "sent": 0,
                 "received": 0, "taken": 0, "bad": 0, "drift": None, "last_received_age": None}]}

        def reconfigure(self) -> None:
            pass

    interp.state.peers = Hook()
    fams = families(metrics.render(status(interp, fx)))
    peer = lambda fam: {s.labels["peer"]: s.value for s in fam.samples}   # noqa: E731
    assert peer(fams["pen_peer_connected"]) == {"192.0.2.12:7070": 1, "192.0.2.13:7070": 0}
    assert peer(fams["pen_peer_entries_sent"])["192.0.2.12:7070"] == 5
    assert peer(fams["pen_peer_config_drift"]) == {"192.0.2.12:7070": 1, "192.0.2.13:7070": -1}
    assert peer(fams["pen_peer_last_received_age_seconds"]) == {"192.0.2.12:7070": 0.5}
