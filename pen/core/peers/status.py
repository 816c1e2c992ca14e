"""What `peers`, `peers_json`, the status page and /metrics show of the peers (docs/peers.md).

One row per `--peer`: its outgoing connection (what this node sends) together with the
connections accepted from the same address (what it receives), and any accepted connection
from an address not listed as a row of its own.
"""
from __future__ import annotations

from pen.core.peers.codec import Config
from pen.core.peers.drift import compare, digest
from pen.core.peers.sync import Counters, Dial, Link, PeerSync, Totals


def _age(now: float, t: float) -> float | None:
    return round(now - t, 3) if t else None


def _ip(who: str) -> str:
    return who.rpartition(":")[0].strip("[]")


def status(sync: PeerSync, dials: list[Dial], incoming: dict[Link, str],
           listen: str | None, keyed: bool, entries: int, now: float) -> dict:
    """`incoming`: accepted links -> the remote address (host:port).  Closed links' counts are
    in `sync.totals`, under the dialled address or "in:" and the remote IP."""
    here = sync.table.config()
    rows = []
    claimed: set[str] = set()
    for dial in dials:
        ips = {_ip(dial.address), dial.ip} - {""}
        ins = [ln for ln, who in incoming.items() if _ip(who) in ips]
        claimed |= ips
        links = ([dial.link] if dial.link is not None else []) + ins
        totals = [sync.totals.get(dial.address)] + [sync.totals.get(f"in:{ip}") for ip in ips]
        rows.append(_row(dial.address, dial.link is not None and dial.link.up,
                         any(ln.up for ln in ins), links, totals, here, now, dial.last_error))
    others: dict[str, list[Link]] = {}
    for ln, who in incoming.items():
        if _ip(who) not in claimed:
            others.setdefault(_ip(who), []).append(ln)
    for key in sync.totals:
        if key.startswith("in:") and key[3:] not in claimed:
            others.setdefault(key[3:], [])
    for ip, links in others.items():
        rows.append(_row(f"{ip} (incoming)", False, any(ln.up for ln in links), links,
                         [sync.totals.get(f"in:{ip}")], here, now, ""))
    return {"listen": listen, "key": keyed, "entries": entries, "running": True,
            "digest": digest(here), "peers": rows}


def _row(name: str, out_up: bool, in_up: bool, links: list[Link], totals: list[Totals | None],
         here: Config, now: float, error: str) -> dict:
    c = Totals()
    for t in totals:
        if t is not None:
            c.add(t.counters)
    for ln in links:
        c.add(ln.counters)
    k: Counters = c.counters
    theirs = next((ln.their_config for ln in links if ln.their_config is not None), None)
    return {"peer": name, "connected": out_up, "incoming": in_up, "sent": k.sent,
            "received": k.received, "taken": k.applied, "stale": k.stale,
            "unknown_server": k.unknown, "malformed": k.malformed, "auth_failed": k.auth,
            "replayed": k.replay, "bad": k.bad(),
            "last_sent_age": _age(now, k.last_sent), "last_received_age": _age(now, k.last_received),
            "drift": compare(here, theirs) if theirs is not None else None,
            "their_digest": digest(theirs) if theirs is not None else None,
            "error": error}
