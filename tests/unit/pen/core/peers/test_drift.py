"""Configuration drift between peers (pen.core.peers.drift)."""
from __future__ import annotations

import socket

from pen.core.peers.codec import Config
from pen.core.peers.drift import compare, digest
from pen.core.peers.tables import config_of
from support.balance import state


def test_equal_configurations_agree() -> None:
    a, b = config_of(state(81, 82)), config_of(state(81, 82))
    assert compare(a, b) == [] and digest(a) == digest(b)


def test_a_removed_server_is_named_with_its_slot() -> None:
    """The lab's runbook: `server 1 address 0.0.0.0` on one node only."""
    here = state(81, 82, 83)
    there = state(81, 82, 83)
    there.servers.servers[1].set_address(socket.AF_INET, "0.0.0.0", 0, ("0.0.0.0", 0))
    diff = compare(config_of(here), config_of(there))
    assert "servers only here: 192.0.2.1:82" in diff
    assert any(line.startswith("server slots differ: 1 here 192.0.2.1:82") for line in diff)


def test_order_and_settings_and_weights() -> None:
    here, there = state(81, 82, hash=True), state(82, 81)
    there.servers.servers[0].weight = 3
    diff = compare(config_of(here), config_of(there))
    assert not any(line.startswith("servers only") for line in diff)
    assert any(line.startswith("server slots differ") for line in diff)
    assert "hash: here True, there False" in diff
    assert any(line.startswith("server_limits:") for line in diff)


def test_unknown_settings_from_a_newer_peer_show_as_unset() -> None:
    diff = compare(Config([], {}), Config([], {"new": "1"}))
    assert diff == ["new: here (unset), there 1"]
