"""The dispatcher's rules, with a fake clock (pen.core.balance.dispatch)."""
from __future__ import annotations

import socket

from pen.core.balance import dispatch
from pen.core.balance.dispatch import CONNECT, DONE, REFUSE, RETRY, WAIT, Dispatcher
from pen.core.health import CheckSpec, HealthState
from pen.core.balance.servers import EMERGENCY, NEVER, Server
from support.balance import state

NOW = 1000.0


def make(n: int, **settings) -> Dispatcher:
    return Dispatcher(state(*range(10081, 10081 + n), host="127.0.0.1", **settings))


def srv(d: Dispatcher, i: int) -> Server:
    server = d.state.servers.get(i)
    assert server is not None
    return server


def test_admit_chooses_and_an_async_connect_counts_pending_then_established() -> None:
    d = make(2, roundrobin=True)
    t = d.admit("127.0.0.1", 40000, NOW)
    assert (t.step, t.server, t.srv) == (CONNECT, 1, srv(d, 1))    # C pen's first pick is 1
    d.connect_started(t, NOW)
    assert (srv(d, 1).pending, srv(d, 1).c, d.pending, d.nconns) == (1, 0, 1, 1)
    assert t.client.server == 1                                     # tracked from the choice
    d.connected(t)
    assert (srv(d, 1).pending, srv(d, 1).c, srv(d, 1).total, d.pending) == (0, 1, 1, 0)
    assert t.connected and t.step == DONE
    t.owner = object()                    # the shell's Conn
    assert d.closed(t, NOW + 1) == []
    assert (srv(d, 1).c, d.nconns) == (0, 0)
    assert t.owner is None                # no cycle with the shell's Conn is left
    assert d.closed(t, NOW + 2) == [] and srv(d, 1).c == 0          # closing twice counts once


def test_a_choice_reserves_its_place_until_the_outcome() -> None:
    """The place is counted from the choice on, so a limit holds exactly (across workers)."""
    d = make(1)
    srv(d, 0).maxc = srv(d, 0).hard = 1
    t = d.admit("127.0.0.1", 40000, NOW)
    assert (srv(d, 0).pending, d.pending) == (1, 1)
    assert d.admit("10.1.1.1", 1, NOW).step == REFUSE     # the only place is taken
    d.connect_started(t, NOW, established=True)
    assert (srv(d, 0).c, srv(d, 0).total, srv(d, 0).pending, d.pending) == (1, 1, 0, 0)


def test_neither_kind_of_connect_clears_a_blacklist() -> None:
    """One rule for both (before, an immediate connect cleared `status` and a later one did
    not): only time or a passing health check ends a blacklisting."""
    d = make(2, roundrobin=True)
    srv(d, 0).blacklisted_at = NOW - 1
    for established in (True, False):
        t = d.admit("10.0.0.1", 1, NOW)
        t.srv, t.server = srv(d, 0), 0
        d.connect_started(t, NOW, established=established)
        if not established:
            d.connected(t)
        assert srv(d, 0).blacklisted_at == NOW - 1


def test_a_connect_begun_before_retry_servers_does_not_blacklist_again() -> None:
    """penvrrp sends retry_servers when its link comes back; a connect whose SYN was lost with
    the link times out after that, and must not undo the retry (docs/penvrrp.md "Tracking").
    A connect begun after the retry blacklists as usual."""
    d = make(3, roundrobin=True)
    early = d.admit("10.0.0.1", 1, NOW)
    d.connect_started(early, NOW)
    server = early.server
    srv(d, server).blacklisted_at, srv(d, server).retried_at = NEVER, NOW + 1   # the retry
    late = d.connect_failed(early, NOW + 2, "connect timeout")
    assert srv(d, server).blacklisted_at == NEVER and srv(d, server).failures == 0
    assert (late.step, late.server) == (CONNECT, (server + 1) % 3)          # still fails over
    assert any("begun before retry_servers" in text for _lvl, text in d.take_notes())
    second = late.server
    d.connect_started(late, NOW + 2)
    d.connect_failed(late, NOW + 3, "connect timeout")                     # begun after it
    assert srv(d, second).blacklisted_at == NOW + 3 and srv(d, second).failures == 1


def test_a_failed_connect_blacklists_and_fails_over_in_order() -> None:
    d = make(3, roundrobin=True)
    t = d.admit("127.0.0.1", 40000, NOW)
    assert t.server == 1
    d.connect_started(t, NOW)
    nxt = d.connect_failed(t, NOW + 0.01, "Connection refused")
    assert (nxt.step, nxt.server) == (CONNECT, 2)
    assert srv(d, 1).blacklisted_at == NOW + 0.01 and srv(d, 1).failures == 1
    assert (srv(d, 1).pending, srv(d, 2).pending, d.pending) == (0, 1, 1)   # reserved on 2
    assert ("info", "blacklisting server 1 because of Connection refused") in d.take_notes()
    d.connect_started(t, NOW)
    assert d.connect_failed(t, NOW, "refused").server == 0
    d.connect_started(t, NOW)
    last = d.connect_failed(t, NOW, "refused")            # back at the initial choice: stop
    assert last.step == REFUSE and d.refused_total == 1
    assert d.pending == 0 and all(srv(d, i).pending == 0 for i in range(3))


def test_failover_ends_at_the_emergency_server_and_goes_no_further() -> None:
    d = make(1)
    em = Server(EMERGENCY)
    em.set_address(socket.AF_INET, "127.0.0.1", 9, ("127.0.0.1", 9))
    d.state.servers.emergency = em
    t = d.admit("127.0.0.1", 1, NOW)
    d.connect_started(t, NOW)
    t = d.connect_failed(t, NOW, "refused")
    assert (t.step, t.server, t.srv) == (CONNECT, EMERGENCY, em)
    d.connect_started(t, NOW)
    assert d.connect_failed(t, NOW, "refused").step == REFUSE
    assert em.failures == 1


def test_local_shortage_blacklists_nothing_and_pauses_accepts() -> None:
    d = make(2, timeout=3)
    t = d.admit("127.0.0.1", 1, NOW)
    first = t.server
    t = d.connect_failed(t, NOW, "Too many open files", local_shortage=True)
    assert t.step == RETRY
    assert all(srv(d, i).blacklisted_at == NEVER and srv(d, i).failures == 0 for i in range(2))
    assert not d.can_accept(NOW + 0.05)
    assert d.can_accept(NOW + dispatch.RETRY_DELAY)
    assert d.retry(t, NOW + 0.1).step == CONNECT and t.server == first
    t = d.connect_failed(t, NOW + 3.5, "Too many open files", local_shortage=True)
    assert t.step == REFUSE and d.refused_total == 1          # waited past the timeout
    assert d.take_notes()[-1][0] == "warning"


def test_retry_of_a_closed_ticket_does_nothing() -> None:
    d = make(1)
    t = d.admit("127.0.0.1", 1, NOW)
    d.connect_failed(t, NOW, "Too many open files", local_shortage=True)
    d.closed(t, NOW)
    assert d.retry(t, NOW + 0.1).step == DONE and d.nconns == 0


def test_connect_timeout_is_swept_at_most_every_50_ms() -> None:
    d = make(2, roundrobin=True, timeout=3)
    t = d.admit("127.0.0.1", 1, NOW)
    d.connect_started(t, NOW)
    assert d.expired_connects(NOW + 2.99) == []
    assert d.expired_connects(NOW + 3.0) == []            # swept 10 ms ago: not yet
    late = d.expired_connects(NOW + 3.05)
    assert late == [(t, srv(d, 1))] and t.step == CONNECT and t.server == 0
    assert srv(d, 1).failures == 1 and srv(d, 1).pending == 0
    assert srv(d, 0).pending == 1 and d.pending == 1      # the failover's place is reserved
    d.connect_started(t, NOW + 3.05)
    d.connected(t)
    assert d.expired_connects(NOW + 10) == []


def test_admission_limits_conn_max_and_pending_max() -> None:
    d = make(1, conn_max=2, pending_max=1)
    assert d.can_accept(NOW)
    a = d.admit("10.0.0.1", 1, NOW)
    d.connect_started(a, NOW)
    assert not d.can_accept(NOW)                           # pending_max 1 reached
    d.connected(a)
    assert d.can_accept(NOW)
    b = d.admit("10.0.0.2", 1, NOW)
    d.connect_started(b, NOW, established=True)
    assert not d.can_accept(NOW)                           # -x 2 reached
    d.closed(b, NOW)
    assert d.can_accept(NOW)
    d.accept_failed(NOW)
    assert not d.can_accept(NOW) and d.can_accept(NOW + dispatch.RETRY_DELAY)


def test_client_acl_denial_is_refused() -> None:
    d = make(2, client_acl=1)
    d.state.acls.add(1, ["deny", "127.0.0.1"])
    t = d.admit("127.0.0.1", 1, NOW)
    assert t.step == REFUSE and d.refused_total == 1
    assert "denied by client_acl 1" in d.take_notes()[0][1]


def full_pair(**kw) -> tuple[Dispatcher, object]:
    d = make(1, queue_max=2, queue_timeout=5.0, **kw)
    srv(d, 0).maxc = srv(d, 0).hard = 1
    busy = d.admit("10.0.0.1", 1, NOW)
    d.connect_started(busy, NOW, established=True)
    return d, busy


def test_the_queue_holds_a_client_until_a_place_is_freed() -> None:
    d, busy = full_pair()
    t = d.admit("10.0.0.2", 1, NOW)
    assert t.step == WAIT and d.queued_total == 1
    assert d.tick(NOW + 1) == []                            # still full: stays queued
    freed = d.closed(busy, NOW + 2)
    assert freed == [t] and t.step == CONNECT and t.server == 0
    d.connect_started(t, NOW + 2, established=True)
    assert srv(d, 0).c == 1


def test_the_queue_refuses_after_queue_timeout_and_past_queue_max() -> None:
    d, busy = full_pair()
    a = d.admit("10.0.0.2", 1, NOW)
    b = d.admit("10.0.0.3", 1, NOW)
    c = d.admit("10.0.0.4", 1, NOW)
    assert (a.step, b.step, c.step) == (WAIT, WAIT, REFUSE)     # queue_max 2
    out = d.tick(NOW + 5.5)
    assert out == [a, b] and a.step == b.step == REFUSE
    assert d.refused_total == 3


def test_no_queue_when_no_server_is_usable() -> None:
    d, busy = full_pair()
    srv(d, 0).blacklisted_at = NOW                                   # blacklisted, not just full
    assert d.admit("10.0.0.2", 1, NOW).step == REFUSE


def test_a_queued_client_that_leaves_is_skipped() -> None:
    d, busy = full_pair()
    t = d.admit("10.0.0.2", 1, NOW)
    u = d.admit("10.0.0.3", 1, NOW)
    d.closed(t, NOW)
    assert d.closed(busy, NOW + 1) == [u]


def test_a_queued_client_that_leaves_frees_its_place_in_the_queue_at_once() -> None:
    """A UDP flow that cannot be kept, or a TCP client that hangs up while waiting, is closed
    while QUEUED: its place in queue_max is free from then on, not from the next tick."""
    d, busy = full_pair()
    a = d.admit("10.0.0.2", 1, NOW)
    b = d.admit("10.0.0.3", 1, NOW)
    d.closed(a, NOW)
    c = d.admit("10.0.0.4", 1, NOW)
    assert c.step == WAIT and list(d.queue) == [b, c] and d.refused_total == 0


def test_a_ticket_handed_back_from_the_queue_holds_its_place_until_its_outcome() -> None:
    """The place reserved for a waiting ticket handed back is released by the outcome its
    owner reports: a connect, or the close of an owner that cannot carry it out."""
    d, busy = full_pair()
    t = d.admit("10.0.0.2", 1, NOW)
    u = d.admit("10.0.0.3", 1, NOW)
    assert d.closed(busy, NOW + 1) == [t] and t.step == CONNECT
    assert (srv(d, 0).pending, d.pending) == (1, 1)
    assert d.closed(t, NOW + 1) == []              # the owner had gone: closed, not connected
    assert (srv(d, 0).pending, srv(d, 0).c, d.pending, d.nconns) == (0, 0, 0, 1)
    assert d.tick(NOW + 2) == [u] and u.step == CONNECT
    d.connect_started(u, NOW + 2, established=True)
    assert (srv(d, 0).pending, srv(d, 0).c, d.pending) == (0, 1, 0)


def test_idle_expiry_only_for_established_connections() -> None:
    d = make(1, idle_timeout=10)
    a = d.admit("10.0.0.1", 1, NOW)
    d.connect_started(a, NOW, established=True)
    b = d.admit("10.0.0.2", 1, NOW)
    d.connect_started(b, NOW)
    assert d.idle(NOW + 11, [(a, NOW), (b, NOW)]) == [a]
    assert d.idle(NOW + 9, [(a, NOW)]) == []
    assert make(1).idle(NOW + 1e6, [(a, NOW)]) == []          # no idle timeout set


def test_flow_idle_defaults_to_60_seconds() -> None:
    assert make(1).flow_idle() == 60.0
    assert make(1, idle_timeout=7).flow_idle() == 7.0


def test_a_lost_udp_flow_releases_its_count_and_fails_over() -> None:
    d = make(2, roundrobin=True)
    t = d.admit("10.0.0.1", 5353, NOW)
    d.connect_started(t, NOW, established=True)
    assert srv(d, 1).c == 1
    t = d.lost(t, NOW + 1, "udp error ECONNREFUSED")
    assert (srv(d, 1).c, srv(d, 1).blacklisted_at, t.step, t.server) == (0, NOW + 1, CONNECT, 0)
    d.connect_started(t, NOW + 1, established=True)
    assert srv(d, 0).c == 1


def test_closing_a_connect_in_progress_releases_pending() -> None:
    d = make(1)
    t = d.admit("10.0.0.1", 1, NOW)
    d.connect_started(t, NOW)
    d.closed(t, NOW)
    assert (srv(d, 0).pending, d.pending, d.nconns, d.connecting) == (0, 0, 0, {})


def test_a_health_check_coming_up_forgets_the_blacklist() -> None:
    d = make(1)
    s = srv(d, 0)
    s.check, s.health = CheckSpec(kind="tcp", rise=1, fall=1), HealthState()
    s.blacklisted_at = NOW
    assert d.health_result(s, False, "refused", NOW) is False and s.blacklisted_at == NOW
    assert d.health_result(s, True, "ok", NOW + 1) is True and s.blacklisted_at == NEVER
    assert d.health_result(s, True, "ok", NOW + 2) is None


def test_agent_drain_is_sticky_and_up_undrains() -> None:
    d = make(1)
    s = srv(d, 0)
    d.agent_state(s, 50, "drain")
    assert (s.agent_weight, s.drain, s.drain_sticky) == (50, True, True)
    d.agent_state(s, None, "up")
    assert not s.drain


def test_dsr_weights_leave_out_unavailable_servers() -> None:
    d = make(3)
    srv(d, 0).weight, srv(d, 1).weight, srv(d, 2).weight = 1, 2, 3
    srv(d, 1).blacklisted_at = NOW
    assert d.available_weights(NOW, socket.AF_INET) == [1, None, 3]
