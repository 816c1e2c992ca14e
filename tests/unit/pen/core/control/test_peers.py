"""The peer commands (pen.core.control.peers): peer, no peer, peer_listen, peer_key, peers."""
from __future__ import annotations

import json

from support.control import make

from pen.core.formats import configfile
from pen.core.control import MODULES


class Hook:
    def __init__(self) -> None:
        self.changes = 0

    def status(self, now: float) -> dict:
        return {"listen": "127.0.0.1:7000", "key": True, "entries": 3, "running": True,
                "peers": [{"peer": "192.0.2.2:7000", "connected": True, "incoming": False,
                           "sent": 5, "received": 2, "taken": 2, "last_sent_age": 0.1,
                           "last_received_age": None, "bad": 0,
                           "drift": ["hash: here True, there False"], "error": ""}]}

    def reconfigure(self) -> None:
        self.changes += 1


def test_peer_adds_lists_and_no_peer_forgets() -> None:
    interp, _ = make()
    hook = interp.state.peers = Hook()
    assert interp.run("peer 192.0.2.2:7000").error is None
    assert interp.run("peer 192.0.2.2:7000").text == ""          # once only
    assert interp.run("peer [2001:db8::2]:7000").error is None
    assert interp.run("peer").text == "192.0.2.2:7000\n[2001:db8::2]:7000\n"
    assert hook.changes == 2
    interp.run("no peer 192.0.2.2:7000")
    assert interp.state.settings.peers == ["[2001:db8::2]:7000"]
    interp.run("no peer")
    assert interp.state.settings.peers == [] and hook.changes == 4


def test_bad_peer_addresses_are_errors_and_change_nothing() -> None:
    interp, _ = make()
    for line in ("peer 7000", "peer host:0", "peer host:http", "peer /tmp/sock", "peer :7000",
                 "peer 192.0.2.2:٧٠٠٠"):
        reply = interp.run(line)
        assert reply.error and reply.text.startswith("error: peer:"), line
    assert interp.state.settings.peers == []


def test_peer_listen_is_start_up_only_and_peer_key_is_kept() -> None:
    interp, _ = make(running=False)
    assert interp.run("peer_listen 127.0.0.1:0").error is None
    assert interp.run("peer_key /etc/pen/peer.key").error is None
    interp.running = True
    assert "only at start-up" in (interp.run("peer_listen 7001").error or "")
    assert interp.run("peer_listen 127.0.0.1:0").error is None   # a `write` file replayed
    assert interp.run("peer_listen").text == "127.0.0.1:0\n"


def test_write_renders_the_peer_settings_and_they_load_back() -> None:
    interp, fx = make(running=False)
    for line in ("peer 192.0.2.2:7000", "peer_listen 7000", "peer_key /k"):
        interp.run(line)
    text = configfile.render(interp.state, "127.0.0.1:8080", "test", "/x.cfg", modules=MODULES)
    lines = text.splitlines()
    assert lines.index("no peer") < lines.index("peer 192.0.2.2:7000")
    assert "peer_listen 7000" in lines and "peer_key /k" in lines
    again, _ = make(running=False)
    for line in lines:
        again.run(line)
    assert again.state.settings.peers == ["192.0.2.2:7000"]


def test_peers_text_and_json() -> None:
    interp, _ = make()
    assert interp.run("peers").text.startswith("listen - key no entries 0")
    interp.run("peer 192.0.2.2:7000")
    assert "peers not running" in interp.run("peers").text
    interp.state.peers = Hook()
    text = interp.run("peers").text
    assert "peer 192.0.2.2:7000 connected yes incoming no sent 5 received 2 taken 2" in text
    assert "  drift: hash: here True, there False" in text
    data = json.loads(interp.run("peers_json").text)
    assert data["peers"][0]["sent"] == 5
