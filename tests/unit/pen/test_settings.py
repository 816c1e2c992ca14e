"""pen.settings: C pen 0.34.1's defaults (pen(1) OPTIONS), the `mode` reply (penctl(1)
`mode`) and the DSR all-ports form (docs/dataplane.md "Direct Server Return")."""
from __future__ import annotations

import pytest

from pen.settings import DSR_PSEUDO_PORT, Settings, dsr_all_ports


def test_the_defaults_are_c_pens() -> None:
    s = Settings()
    assert (s.blacklist, s.timeout, s.clients_max, s.conn_max) == (30, 3, 2048, 500)
    assert (s.multi_accept, s.backlog, s.tracking) == (100, 500, 0)
    assert not (s.hash or s.roundrobin or s.stubborn or s.weight or s.prio)


def test_each_settings_has_its_own_lists() -> None:
    a, b = Settings(), Settings()
    a.commands.append("mode")
    a.peers.append("192.0.2.2:7070")
    assert b.commands == [] and b.peers == []


def test_mode_names_every_flag_in_c_pens_order() -> None:
    assert Settings().mode_text() == "no hash no roundrobin no stubborn no weight no prio"
    assert Settings(hash=True, weight=True).mode_text() == \
        "hash no roundrobin no stubborn weight no prio"


@pytest.mark.parametrize("listen, commands, expected", [
    ("192.0.2.100", ["dsr_if eth0"], True),
    ("192.0.2.100:0", ["dsr_if eth0"], True),
    ("192.0.2.100:80", ["dsr_if eth0"], False),       # one port: the ordinary DSR form
    ("192.0.2.100", [], False),                       # no dsr_if: a port number is missing
    ("2001:db8::1", ["dsr_if eth0"], False),          # DSR is IPv4 only, as in C
    ("192.0.2.100", ["dsr_ip 192.0.2.1"], False),
])
def test_the_dsr_all_ports_form(listen: str, commands: list[str], expected: bool) -> None:
    assert dsr_all_ports(Settings(listen=listen, commands=commands)) is expected
    assert DSR_PSEUDO_PORT.isascii() and int(DSR_PSEUDO_PORT) > 0
