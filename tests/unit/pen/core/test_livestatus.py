"""pen.core.livestatus: the live status `snapshot_json` answers, read through the control
interpreter (the status commands themselves are tests/unit/pen/core/control/test_status.py's)."""
from __future__ import annotations

import json

from support.control import make


def test_snapshot_json_has_state_words_settings_and_version() -> None:
    interp, fx = make(specs=("127.0.0.1:8081", "127.0.0.1:8082", "127.0.0.1:8083"))
    assert interp.run("server 1 drain").error is None
    assert interp.run("server 2 blacklist 20").error is None
    data = json.loads(interp.run("snapshot_json").text)
    states = [s["state"] for s in data["servers"]]
    assert states == ["up", "draining", "blacklisted"]
    assert data["servers"][1]["drain"] is True
    assert data["servers"][2]["blacklist_left"] == 20
    assert data["settings"]["blacklist"] == 30
    assert data["settings"]["listen"] == "127.0.0.1:8080"
    assert data["version"] == "test"
    assert data["clients_used"] == 0 and data["engine"] == {}
    assert "history" not in data
