"""Control-port commands for pen peers (issue 17, docs/penctl.md "Additions", docs/peers.md).

  peer [HOST:PORT]        add a peer to dial (bare: list them)
  no peer [HOST:PORT]     forget one peer, or all
  peer_listen [[HOST:]PORT]   this node's peer listener (start-up only: -o or the -F file)
  peer_key [FILE]         the shared secret's file; at run time re-read for new connections
  peers                   one line per peer: connected, entries sent and received, ages,
                          bad input, drift (what differs, on the lines after)
  peers_json              the same as one line of JSON

The interpreter changes settings; the engine's peer shell (pen.engine.peers), when it runs,
is `state.peers` and is told of each change.  `no peer` is declared here beside `peer`.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Callable, Protocol

from pen.core.balance.servers import Server
from pen.core.balance.state import PenState
from pen.core.peers.options import PeerConfigError, split

if TYPE_CHECKING:
    from pen.core.control.interpreter import Interpreter

FLAGS: tuple[str, ...] = ()


class PeerHook(Protocol):
    """What the running peer shell offers the interpreter."""

    def status(self, now: float) -> dict: ...
    def reconfigure(self) -> None: ...


def _age(now: float, t: float) -> str:
    return f"{now - t:.1f}" if t else "-"


def render_status(data: dict) -> str:
    """`peers` text from the status dict (pen.core.peers.status.status)."""
    out = [f"listen {data.get('listen') or '-'} key {'yes' if data.get('key') else 'no'} "
           f"entries {data.get('entries', 0)} refused {data.get('refused', 0)}"]
    for row in data.get("peers", []):
        out.append(f"peer {row['peer']} connected {'yes' if row['connected'] else 'no'} "
                   f"incoming {'yes' if row['incoming'] else 'no'} sent {row['sent']} "
                   f"received {row['received']} taken {row['taken']} "
                   f"last_sent {row['last_sent_age'] if row['last_sent_age'] is not None else '-'} "
                   f"last_received "
                   f"{row['last_received_age'] if row['last_received_age'] is not None else '-'} "
                   f"bad {row['bad']} drift {len(row['drift']) if row['drift'] is not None else '-'}")
        out += [f"  drift: {line}" for line in row["drift"] or []]
        if row.get("error") and not row["connected"]:
            out.append(f"  error: {row['error']}")
    return "\n".join(out) + "\n"


def commands(interp: Interpreter, error: type[Exception]) -> dict[str, Callable[[list[str]], str]]:
    st = interp.state
    s = st.settings

    def changed() -> None:
        hook: PeerHook | None = st.peers
        if hook is not None:
            hook.reconfigure()

    def peer(words: list[str]) -> str:
        if len(words) < 2:
            return "".join(f"{p}\n" for p in s.peers)
        try:
            split(words[1])
        except PeerConfigError as e:
            raise error(f"peer: {e}") from None
        if words[1] not in s.peers:
            s.peers.append(words[1])
            changed()
        return ""

    def peer_listen(words: list[str]) -> str:
        if len(words) > 1:
            if interp.running and words[1] != s.peer_listen:
                raise error("peer_listen: only at start-up (-o or the -F file); restart pen")
            try:
                split(words[1], "0.0.0.0")
            except PeerConfigError as e:
                raise error(f"peer_listen: {e}") from None
            s.peer_listen = words[1]
        return f"{s.peer_listen or ''}\n"

    def peer_key(words: list[str]) -> str:
        if len(words) > 1:
            s.peer_key = words[1]
            changed()
        return f"{s.peer_key or ''}\n"

    def status() -> dict:
        hook: PeerHook | None = st.peers
        if hook is None:
            return {"listen": s.peer_listen, "key": bool(s.peer_key), "entries": len(st.clients),
                    "running": False,
                    "peers": [{"peer": p, "connected": False, "incoming": False, "sent": 0,
                               "received": 0, "taken": 0, "last_sent_age": None,
                               "last_received_age": None, "bad": 0, "drift": None,
                               "error": "peers not running"} for p in s.peers]}
        return hook.status(interp.fx.now())

    def no_peer(words: list[str]) -> str:
        """`no peer [HOST:PORT]`: forget one peer, or all."""
        if len(words) > 2:
            if words[2] in s.peers:
                s.peers.remove(words[2])
        else:
            s.peers.clear()
        changed()
        return ""

    return {
        "peer": peer, "no peer": no_peer, "peer_listen": peer_listen, "peer_key": peer_key,
        "peers": lambda words: render_status(status()),
        "peers_json": lambda words: json.dumps(status(), separators=(",", ":")) + "\n",
    }


def render(state: PenState) -> list[str]:
    """For `write`: the peer settings as commands."""
    s = state.settings
    out = ["no peer"] + [f"peer {p}" for p in s.peers]
    if s.peer_listen:
        out.append(f"peer_listen {s.peer_listen}")
    if s.peer_key:
        out.append(f"peer_key {s.peer_key}")
    return out


def render_server(srv: Server) -> list[str]:
    return []
