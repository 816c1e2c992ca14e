"""pen.core.balance.state: the decision state selection, the dispatcher and the control
interpreter share."""
from __future__ import annotations

from pen.core.balance.state import PenState
from pen.settings import Settings


def test_the_client_table_has_the_slots_c_gives() -> None:
    """pen(1) -c N: N client slots, taken from the settings the state is made with."""
    st = PenState(Settings(clients_max=7))
    assert st.clients.size == 7 and len(st.clients) == 0


def test_each_state_has_tables_of_its_own() -> None:
    """The default tables are made per state: the SIGHUP trial run's state (pen.engine.startup;
    docs/configuration.md "SIGHUP") must not touch the running one's servers or access lists."""
    a, b = PenState(Settings()), PenState(Settings())
    a.servers.ensure(2)
    a.acls.add(1, ["deny", "192.0.2.1"])
    assert len(b.servers) == 0 and b.acls.lists[1] == []
    assert a.clients is not b.clients


def test_a_new_state_has_chosen_nothing_and_runs_no_peers() -> None:
    """rr_last 0: round robin's first pick is server 1, as in C pen (test_selection.py shows it)."""
    st = PenState(Settings())
    assert (st.rr_last, st.current, st.peers) == (0, 0, None)
