"""`serving` and `retry_servers` (pen.core.control.ha): what penvrrp's pen tracker asks."""
from __future__ import annotations

from support.control import make


def test_serving_counts_only_usable_servers() -> None:
    a, fx = make()
    total = len([s for s in a.state.servers.servers if s.has_address()])
    assert total >= 2
    assert a.run("serving").text == f"{total}\n"
    a.run("server 0 drain")
    assert a.run("serving").text == f"{total - 1}\n"
    a.run("server 1 blacklist 20")
    assert a.run("serving").text == f"{total - 2}\n"
    fx.clock += 21                                   # the blacklisting runs out
    assert a.run("serving").text == f"{total - 1}\n"
    a.run("server 1 max 1")
    a.state.servers.get(1).c = 1                     # full
    assert a.run("serving").text == f"{total - 2}\n"


def test_serving_never_changes_state_and_retry_clears_blacklists() -> None:
    a, fx = make()
    for n in range(len(a.state.servers.servers)):
        a.run(f"server {n} blacklist 60")
    before = [(s.blacklisted_at, s.c, s.total, s.failures) for s in a.state.servers.servers]
    for _ in range(5):
        assert a.run("serving").text == "0\n"
    assert [(s.blacklisted_at, s.c, s.total, s.failures) for s in a.state.servers.servers] == before
    total = len([s for s in a.state.servers.servers if s.has_address()])
    assert a.run("retry_servers").text == f"{total}\n"
    assert a.run("serving").text == f"{total}\n"
    # and connects begun before now are forgiven when they fail later (pen.core.balance.dispatch)
    assert {s.retried_at for s in a.state.servers.servers} == {fx.now()}


def test_status_without_web_stats_answers_the_page() -> None:
    a, fx = make()
    page = a.run("status").text
    assert page.startswith("<html>") and "127.0.0.1" in page
    assert fx.written == {}


def test_a_slot_given_a_new_address_loses_its_draining_flag() -> None:
    a, _ = make()
    a.run("server 1 drain")
    a.run("server 1 address 127.0.0.1 port 8082")            # same address: still draining
    assert a.state.servers.get(1).drain
    a.run("server 1 address 127.0.0.9 port 8082")            # another server in the slot
    assert not a.state.servers.get(1).drain
    a.run("server 1 address 127.0.0.10 port 8082 drain")     # unless the line drains it
    assert a.state.servers.get(1).drain
