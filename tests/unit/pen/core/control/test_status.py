"""pen.core.control.status: the commands webstats and monitoring read, snapshot_json,
history, history_json and metrics (docs/webstats.md "Where the data comes from: pen-ha's
control commands"), through the control interpreter over NoEffects."""
from __future__ import annotations

import json

from pen.core.control import COMMAND_WORDS, status
from pen.core.formats import metrics
from pen.core.history import History
from support.control import make


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


def test_metrics_renders_the_status_snapshot_json_answers() -> None:
    """One status, two forms: /metrics never tells another story than the status page."""
    interp, _ = make()
    assert interp.run("server 1 drain").error is None
    reply = interp.run("metrics").text
    assert reply.startswith("# HELP pen_info ")
    assert reply == metrics.render(json.loads(interp.run("snapshot_json").text))


def test_the_status_commands_read_only_so_write_saves_nothing_of_them() -> None:
    interp, _ = make()
    assert status.render(interp.state) == []
    assert all(status.render_server(srv) == [] for srv in interp.state.servers.servers)
