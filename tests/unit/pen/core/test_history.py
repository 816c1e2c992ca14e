"""pen.core.history: the bounded ring of per-server samples."""
from __future__ import annotations

from pen.core.history import History, rates, text


def row(i: int, conn: int = 0, sx: int = 0, rx: int = 0, address: str = "10.0.0.1"):
    return (i, address, conn, 0, sx, rx, 0, 0)


def test_samples_are_kept_per_server_oldest_first() -> None:
    h = History(interval=5, capacity=10)
    h.sample(100.0, [row(0, 1, 10, 20), row(1, 2)])
    h.sample(105.0, [row(0, 3, 30, 50), row(1, 4)])
    d = h.to_dict()
    assert d["interval"] == 5 and d["capacity"] == 10
    assert d["servers"]["0"]["t"] == [100.0, 105.0]
    assert d["servers"]["0"]["conn"] == [1, 3]
    assert d["servers"]["0"]["sx"] == [10, 30] and d["servers"]["0"]["rx"] == [20, 50]
    assert d["servers"]["1"]["conn"] == [2, 4]


def test_memory_is_bounded_by_capacity() -> None:
    h = History(interval=1, capacity=4)
    for t in range(100):
        h.sample(float(t), [row(0, t)])
    d = h.to_dict()["servers"]["0"]
    assert d["conn"] == [96, 97, 98, 99]
    assert len(d["t"]) == 4


def test_a_server_no_longer_reported_is_forgotten() -> None:
    h = History(capacity=5)
    h.sample(1.0, [row(0), row(1)])
    h.sample(2.0, [row(0)])
    assert list(h.to_dict()["servers"]) == ["0"]


def test_a_new_address_starts_a_new_series() -> None:
    h = History(capacity=5)
    h.sample(1.0, [row(0, 7, address="10.0.0.1")])
    h.sample(2.0, [row(0, 8, address="10.0.0.2")])
    s = h.to_dict()["servers"]["0"]
    assert s["address"] == "10.0.0.2" and s["conn"] == [8]


def test_rates_never_go_negative_and_ignore_zero_intervals() -> None:
    assert rates([0, 2, 4], [0, 100, 300]) == [50.0, 100.0]
    assert rates([0, 1], [500, 10]) == [0.0]          # counter reset
    assert rates([3, 3], [0, 10]) == [0.0]            # same timestamp
    assert rates([1], [1]) == []


def test_text_reply_is_compact_and_names_every_server() -> None:
    h = History(interval=5, capacity=180)
    h.sample(100.0, [row(0, 1, 0, 0), row(1, 0)])
    h.sample(105.0, [row(0, 2, 5000, 10000), row(1, 0)])
    out = text(h.to_dict())
    lines = out.splitlines()
    assert lines[0] == "interval 5 capacity 180"
    assert lines[1] == "0 addr 10.0.0.1 samples 2 span 5 conn 1,2 in 1000 out 2000"
    assert lines[2] == "1 addr 10.0.0.1 samples 2 span 5 conn 0,0 in 0 out 0"
    assert text(History().to_dict()) == "interval 5 capacity 180\n"
