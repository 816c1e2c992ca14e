"""penvrrp.core.status: the state file's document and the text `penvrrp status` prints from
it, and when that document is stale (docs/penvrrp.md "Command line", `penvrrp status`).  The
command around them is tests/unit/penvrrp/test_cli.py's."""
from __future__ import annotations

import pytest

from penvrrp.core import config
from penvrrp.core.fsm import Fsm
from penvrrp.core.rxcheck import DISCARD_COUNTERS
from penvrrp.core.status import RX_FORM_COUNTERS, STALE_INTERVALS, instance_doc, render, staleness
from penvrrp.core.tracking import TrackState

WALL = 1_800_000_000.0


def master(advert_int: float = 0.5) -> Fsm:
    """VI_51 on eth0, master since its monotonic time 10.0."""
    cfg = config.instance_from_dict({"interface": "eth0", "vrid": 51, "vips": ["192.0.2.100/24"],
                                     "priority": 150, "advert_int": advert_int})
    fsm = Fsm(cfg, "192.0.2.1")
    fsm.start(0.0)
    fsm.tick(10.0)
    return fsm


def alive(pid: int) -> bool:
    return True


def dead(pid: int) -> bool:
    return False


def state_file(age: float, *intervals: float, pid: object = 4242) -> dict:
    return {"pid": pid, "written": WALL - age,
            "instances": [{"advert_interval": i} for i in intervals]}


def test_the_document_gives_times_in_seconds_and_the_time_in_state_on_the_wall_clock() -> None:
    doc = instance_doc(master(), [], WALL, 12.0)
    assert (doc["name"], doc["state"], doc["vrid"], doc["version"]) == ("VI_51", "MASTER", 51, 3)
    assert (doc["priority"], doc["base_priority"], doc["vips"]) == (150, 150, ["192.0.2.100/24"])
    assert (doc["source"], doc["master"], doc["preempt"]) == ("192.0.2.1", "192.0.2.1", True)
    assert doc["advert_interval"] == doc["master_advert_interval"] == 0.5
    assert doc["seconds_in_state"] == 2.0 and doc["since"] == WALL - 2.0


def test_every_discard_and_checksum_form_counter_is_there_when_still_zero() -> None:
    """Each discard kind is reported, zero or not (docs/penvrrp.md "Counters", "Metrics")."""
    counters = instance_doc(master(), [], WALL, 12.0)["counters"]
    assert set(DISCARD_COUNTERS) | set(RX_FORM_COUNTERS) <= set(counters)
    assert counters["checksum_errors"] == 0 and counters["become_master"] == 1


def test_tracked_objects_are_listed_with_their_verdict() -> None:
    tracks = [TrackState("pen:127.0.0.1:10000", -60, ok=False, detail="refused")]
    doc = instance_doc(master(), tracks, WALL, 12.0)
    assert doc["tracking"] == [{"name": "pen:127.0.0.1:10000", "ok": False, "weight": -60,
                                "detail": "refused"}]


def test_a_dead_pid_is_stale_however_fresh_the_file() -> None:
    assert staleness(state_file(0.0, 1.0), WALL, dead) == "penvrrp pid 4242 is not running"
    assert staleness(state_file(0.0, 1.0), WALL, alive) is None


@pytest.mark.parametrize("intervals,limit", [((0.5,), 1.5), ((0.5, 2.0), 6.0), ((), 3.0)])
def test_older_than_3_advert_intervals_of_the_slowest_instance_is_stale(
        intervals: tuple[float, ...], limit: float) -> None:
    """The agent writes at least once per interval; no instance counts as 1 s."""
    assert STALE_INTERVALS == 3
    assert staleness(state_file(limit, *intervals), WALL, alive) is None
    why = staleness(state_file(limit + 0.1, *intervals), WALL, alive)
    assert why is not None and f"more than 3 advert intervals ({limit:g} s)" in why


def test_a_document_without_a_pid_or_a_time_is_judged_by_what_it_has() -> None:
    assert staleness({"pid": "4242", "written": WALL}, WALL, dead) is None   # not a pid
    assert staleness({"pid": 4242}, WALL, alive) is not None                 # never written


def test_render_says_stale_first_then_the_states_as_they_were() -> None:
    doc = {"pid": 4242, "instances": [instance_doc(master(), [], WALL, 12.0)]}
    text = render(doc, "penvrrp pid 4242 is not running").splitlines()
    assert text[0] == "stale: penvrrp pid 4242 is not running; the states below are the last ones written"
    assert text[1:3] == ["penvrrp pid 4242",
                         "VI_51: MASTER on eth0 vrid 51 v3 priority 150 (configured 150)"]
    assert render(doc).splitlines()[0] == "penvrrp pid 4242"


def test_render_shows_only_non_zero_counters_and_each_tracks_verdict() -> None:
    fsm = master()
    tracks = [TrackState("pen:a", -60, ok=True, detail="pen pid 42"), TrackState("if:eth1", -10),
              TrackState("script:x", -100, ok=False)]
    text = render({"pid": 1, "instances": [instance_doc(fsm, tracks, WALL, 12.0)]})
    assert "  track pen:a weight -60: ok pen pid 42" in text.splitlines()
    assert "  track if:eth1 weight -10: pending" in text.splitlines()
    assert "  track script:x weight -100: FAILED" in text.splitlines()
    assert text.splitlines()[-1] == "  counters adverts_sent=1 become_master=1 transitions=2"
    fsm.counters.clear()
    zero = render({"instances": [instance_doc(fsm, [], WALL, 12.0)]}).splitlines()
    assert zero[0] == "penvrrp pid ?" and zero[-1] == "  counters (all zero)"


def test_render_shows_no_master_known_as_a_dash() -> None:
    doc = instance_doc(master(), [], WALL, 12.0)
    doc["master"] = None
    assert "; master -" in render({"pid": 1, "instances": [doc]})
