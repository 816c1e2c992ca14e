"""penctl --json: the text replies (ours or C pen's) as data."""
from __future__ import annotations

from penctl.replies import parse_mode, parse_recent, parse_servers, to_data


def test_servers_including_c_family_0_slot() -> None:
    text = ("0 addr 127.0.0.1 port 10081 conn 0 max 10 hard 20 weight 3 prio 2 sx 0 rx 0\n"
            "3 addr (unknown address family 0 port 0 conn 0 max 0 hard 0 weight 0 prio 0 sx 0 rx 0\n")
    assert parse_servers(text) == [
        {"index": 0, "address": "127.0.0.1", "port": 10081, "conn": 0, "max": 10, "hard": 20,
         "weight": 3, "prio": 2, "sx": 0, "rx": 0},
        {"index": 3, "address": "(unknown address family 0", "port": 0, "conn": 0, "max": 0,
         "hard": 0, "weight": 0, "prio": 0, "sx": 0, "rx": 0}]


def test_recent_and_mode() -> None:
    assert parse_recent("127.0.0.1 connects 4 sx 796 rx 316\n") == [
        {"address": "127.0.0.1", "connects": 4, "sx": 796, "rx": 316}]
    assert parse_mode("hash no roundrobin stubborn no weight prio\n") == {
        "hash": True, "roundrobin": False, "stubborn": True, "weight": False, "prio": True}


def test_other_commands_and_status_errors() -> None:
    assert to_data("pid", "42\n") == {"reply": "42\n"}
    assert to_data("status", "Unable to create webstats\n") == {"error": "Unable to create webstats"}


def test_peers_reply_as_json() -> None:
    from penctl.replies import to_data
    data = to_data("peers", "listen 127.0.0.1:7070 key yes entries 3\n"
                   "peer 192.0.2.2:7000 connected yes incoming no sent 5 received 2 taken 2 "
                   "last_sent 0.1 last_received - bad 0 drift 1\n"
                   "  drift: hash: here True, there False\n")
    assert isinstance(data, dict) and data["listen"] == "127.0.0.1:7070" and data["key"] is True
    peer = data["peers"][0]
    assert peer["peer"] == "192.0.2.2:7000" and peer["connected"] is True
    assert peer["sent"] == 5 and peer["drift"] == 1
    assert peer["drift_lines"] == ["hash: here True, there False"]
