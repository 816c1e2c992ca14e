"""Health-check specs, verdicts and the rise/fall state machine."""
from __future__ import annotations

import pytest

from pen.core.health import (CheckSpec, CheckSpecError, HealthState, agent_verdict, http_request,
                             http_verdict, parse_check)


def test_parse_and_render_round_trip() -> None:
    spec = parse_check("http /healthz expect 204 interval 0.5 timeout 0.2 rise 3 fall 2".split())
    assert (spec.kind, spec.path, spec.expect, spec.interval, spec.timeout, spec.rise,
            spec.fall) == ("http", "/healthz", "204", 0.5, 0.2, 3, 2)
    assert parse_check(spec.render().split()) == spec
    assert parse_check(["tcp"]) == CheckSpec()
    agent = parse_check("agent port 9999".split())
    assert agent.port == 9999 and parse_check(agent.render().split()) == agent


@pytest.mark.parametrize("words,msg", [
    ([], "expected one of"), (["ping"], "expected one of"), (["tcp", "rise"], "needs a value"),
    (["tcp", "rise", "0"], "positive"), (["tcp", "interval", "x"], "not a number"),
    (["tcp", "bogus", "1"], "unknown keyword"), (["http", "expect", "2x"], "status"),
    (["agent", "port", "70000"], "out of range"),
])
def test_bad_specs(words, msg) -> None:
    with pytest.raises(CheckSpecError, match=msg):
        parse_check(words)


def test_timeout_never_exceeds_interval() -> None:
    assert parse_check("tcp interval 1 timeout 5".split()).timeout == 1


def test_http_verdicts() -> None:
    spec = CheckSpec(kind="http")
    assert http_verdict(spec, b"HTTP/1.1 200 OK\r\n\r\n") == (True, "HTTP 200")
    assert http_verdict(spec, b"HTTP/1.0 503 Busy\r\n") == (False, "HTTP 503")
    assert http_verdict(spec, b"garbage")[0] is False
    exact = CheckSpec(kind="http", expect="204")
    assert http_verdict(exact, b"HTTP/1.1 204 No\r\n")[0]
    assert not http_verdict(exact, b"HTTP/1.1 200 OK\r\n")[0]
    assert b"GET /x HTTP/1.0\r\nHost: h\r\n" in http_request(CheckSpec(kind="http", path="/x"), "h")


@pytest.mark.parametrize("reply,state,weight", [
    (b"up\n", "up", None), (b"ready 50%\n", "up", 50), (b"drain", "drain", None),
    (b"down,maint", "down", None), (b"75%", None, 75), (b"\xff garbage", None, None),
])
def test_agent_words(reply, state, weight) -> None:
    assert agent_verdict(reply) == (state, weight) or \
        (agent_verdict(reply).state, agent_verdict(reply).weight_percent) == (state, weight)


def test_rise_and_fall() -> None:
    spec = CheckSpec(rise=2, fall=3)
    h = HealthState()
    assert not h.up and not h.proven                 # no client before a first probe
    assert h.record(True, spec, 0) is True and h.up  # the first success is enough
    assert [h.record(False, spec, t) for t in range(1, 4)] == [None, None, False]
    assert not h.up
    assert h.record(True, spec, 4) is None
    assert h.record(False, spec, 5) is None          # a failure resets the rise count
    assert h.record(True, spec, 6) is None
    assert h.record(True, spec, 7) is True and h.up and h.changed_at == 7
    assert h.history == [(0, True), (3, False), (7, True)]


def test_first_probe_failing_keeps_the_server_down_until_rise() -> None:
    spec = CheckSpec(rise=2, fall=3)
    h = HealthState()
    assert h.record(False, spec, 0) is False and not h.up and h.proven
    assert h.record(True, spec, 1) is None and not h.up
    assert h.record(True, spec, 2) is True and h.up
