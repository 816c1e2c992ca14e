"""snapshot_json, history, history_json and metrics through the control interpreter."""
from __future__ import annotations

import json

from support.control import make
from pen.core.control import COMMAND_WORDS
from pen.core.history import History


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


def test_snapshot_json_is_one_line() -> None:
    interp, _ = make()
    reply = interp.run("snapshot_json").text
    assert reply.endswith("\n") and reply.count("\n") == 1


def test_history_without_a_sampler_is_an_error_not_a_crash() -> None:
    interp, _ = make()
    for word in ("history", "history_json"):
        reply = interp.run(word)
        assert reply.text.startswith("error: history is not kept"), reply.text
        assert reply.error


def test_history_commands_read_the_engine_samples() -> None:
    interp, fx = make()
    h = History(interval=2, capacity=3)
    h.sample(10.0, [(0, "127.0.0.1", 1, 0, 0, 0, 1, 0)])
    h.sample(12.0, [(0, "127.0.0.1", 2, 0, 400, 800, 2, 0)])
    plain = fx.snapshot
    fx.snapshot = lambda: {**plain(), "history": h.to_dict()}
    data = json.loads(interp.run("history_json").text)
    assert data["servers"]["0"]["conn"] == [1, 2]
    assert interp.run("history").text.splitlines()[1].endswith("conn 1,2 in 200 out 400")


def test_new_words_are_listed_for_help_and_completion() -> None:
    for word in ("snapshot_json", "history", "history_json", "metrics"):
        assert word in COMMAND_WORDS
