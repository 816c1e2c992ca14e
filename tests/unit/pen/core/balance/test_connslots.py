"""pen.core.balance.connslots: slots numbered as C pen 0.34.1 numbers them (issue 20).

The sequence below was run against /usr/bin/pen: held connections A B C, A closed, D, C
closed, E F gave slots 0 1 2 3 4 5 with "5 last" on the status page; sequential connections
each closed before the next all take slot 0.
"""
from __future__ import annotations

import pytest

from pen.core import stats
from pen.core.balance.connslots import SlotTable


def test_search_starts_at_the_slot_stored_last() -> None:
    t = SlotTable(500)
    got = {name: t.take() for name in "ABC"}
    t.release(got.pop("A"), 0, 1)
    got["D"] = t.take()
    t.release(got.pop("C"), 0, 1)
    got["E"], got["F"] = t.take(), t.take()
    assert [got[k] for k in "BDEF"] == [1, 3, 4, 5] and t.last == 5 and t.in_use == 4


def test_sequential_connections_reuse_slot_zero() -> None:
    t = SlotTable(4)
    for _ in range(5):
        i = t.take()
        assert i == 0
        t.release(i, 2, 1)
    assert t.last == 0 and t.in_use == 0


def test_wraps_round_and_fills_up() -> None:
    t = SlotTable(3)
    assert [t.take() for _ in range(3)] == [0, 1, 2] and t.full()
    with pytest.raises(LookupError):
        t.take()
    t.release(0, 0, 0)
    assert t.take() == 0 and t.last == 0
    t.grow(5)
    assert not t.full() and t.take() == 3 and len(t) == 5


def test_a_closed_slot_keeps_its_last_client_and_server() -> None:
    t = SlotTable(10)
    i = t.take()
    t.release(i, 7, 1)
    assert stats.connection_text(i, t.closed_view(i)) == (
        "Connection 0:\nstate = 0\ndownfd = -1, upfd = -1\nclient = 7, server = 1\npend = 0\n")
    assert t.closed_view(9) == stats.ConnView(9, 0, -1, -1, 0, 0)


def test_status_page_shows_the_slot_stored_last() -> None:
    from pen.core.balance.state import PenState
    from pen.settings import Settings
    snap = stats.snapshot(PenState(Settings()), [], 0.0, 0.0, 0, conn_last=5)
    assert "0 used, 5 last<p>" in stats.html(snap)
