"""Configuration drift between peers (docs/peers.md "Drift").

Two nodes of a pair must send a client to the same server: the same servers in the same slots
(C pen's `hash` is the address modulo the slot count, pen(1) "-h"), the same weights and
the same selection settings.  After a runbook's `server N address 0.0.0.0` on one node only,
plain `hash` sent every client of the other node elsewhere.  Each peer sends its configuration
(codec CONFIG); `compare` says, in words an operator can act on, what differs.
"""
from __future__ import annotations

import hashlib

from pen.core.peers.codec import Config, ServerName


def _name(n: ServerName) -> str:
    return f"{n[0]}:{n[1]}" if n[1] else "(none)"


def digest(cfg: Config) -> str:
    """A short digest of a configuration (equal digests: no drift)."""
    h = hashlib.sha256()
    for host, port in cfg.servers:
        h.update(f"{host}:{port}\n".encode())
    for k, v in sorted(cfg.settings.items()):
        h.update(f"{k}={v}\n".encode())
    return h.hexdigest()[:12]


def compare(here: Config, there: Config) -> list[str]:
    """What differs, one short line each; [] when the two agree."""
    out = []
    mine = {n for n in here.servers if n[1]}
    theirs = {n for n in there.servers if n[1]}
    if mine - theirs:
        out.append("servers only here: " + " ".join(sorted(map(_name, mine - theirs))))
    if theirs - mine:
        out.append("servers only there: " + " ".join(sorted(map(_name, theirs - mine))))
    slots = [f"{i} here {_name(a)} there {_name(b)}"
             for i, (a, b) in enumerate(zip(here.servers, there.servers)) if a != b]
    if len(here.servers) != len(there.servers):
        slots.append(f"count here {len(here.servers)} there {len(there.servers)}")
    if slots:
        out.append("server slots differ: " + "; ".join(slots[:8])
                   + (f"; ... ({len(slots)} in all)" if len(slots) > 8 else ""))
    for key in sorted(set(here.settings) | set(there.settings)):
        a, b = here.settings.get(key), there.settings.get(key)
        if a != b:
            out.append(f"{key}: here {a if a is not None else '(unset)'}, "
                       f"there {b if b is not None else '(unset)'}")
    return out
