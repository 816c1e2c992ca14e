"""The client table as the peers see it: one process's, or the workers' shared one.

An entry goes out as (client key, age in ms, server address and port); it comes in the same
way and is taken only when it is newer than what this node holds (newest wins) and not older
than -T (pen(1) "-T"), and only when this node has a server at that address and port.  Entries
with no tracked server and unix-socket clients are not shared.

Changes are found without any work on the data path beyond one step: one process's
`PlainStore` collects the clients it tracked since the last flush (`feed`), the workers'
`SharedStore` appends each tracked entry to the shared change ring (pen.core.balance.shared), which
the main process, the one that talks to the peers, reads here.
"""
from __future__ import annotations

from pen.core.balance.clients import UNIX_CLIENT, Client
from pen.core.balance.shared import CL_SERVER, SharedStore, client_key, key_text
from pen.core.balance.state import PenState
from pen.core.balance.store import PlainStore
from pen.core.peers.codec import Config, Entry, ServerName

Row = tuple[bytes, int, "ServerName | None"]

# settings whose difference between the nodes changes where a client goes (docs/peers.md)
DRIFT_SETTINGS = ("hash", "hash_method", "roundrobin", "stubborn", "weight", "prio", "leastconn",
                  "tracking", "blacklist", "clients_max", "client_acl")


def config_of(state: PenState) -> Config:
    """The configuration peers compare: the server list in slot order (weights and priorities
    with it) and the settings that steer selection."""
    servers = [(sv.host, sv.port) if sv.family else ("", 0) for sv in state.servers.servers]
    s = state.settings
    settings = {name: str(getattr(s, name)) for name in DRIFT_SETTINGS}
    settings["server_limits"] = ",".join(f"{sv.weight}/{sv.prio}/{sv.maxc}/{sv.hard}"
                                         for sv in state.servers.servers)
    return Config(servers, settings)


class _Names:
    """Server index <-> (address, port), rebuilt when the server list changes."""

    def __init__(self, state: PenState) -> None:
        self.state = state
        self.stamp: list[ServerName] = []
        self.by_name: dict[ServerName, int] = {}

    def refresh(self) -> list[ServerName]:
        names = [(sv.host, sv.port) if sv.has_address() else ("", 0)
                 for sv in self.state.servers.servers]
        if names != self.stamp:
            self.stamp = names
            self.by_name = {n: i for i, n in enumerate(names) if n[1]}
        return names

    def name(self, index: int) -> ServerName | None:
        if 0 <= index < len(self.stamp) and self.stamp[index][1]:
            return self.stamp[index]
        return None


def _candidates(names: _Names, state: PenState, entries: list[Entry],
                now: float) -> tuple[list[tuple[Entry, int, float]], int, int]:
    """The received entries worth comparing with ours: (entry, server index, last connect),
    and how many named an unknown server or were stale (-T, the unix-socket client)."""
    names.refresh()
    out = []
    stale = unknown = 0
    unix = client_key(UNIX_CLIENT)
    for e in entries:
        index = names.by_name.get(e.server) if e.server is not None else None
        if index is None:
            unknown += 1
            continue
        last = now - e.age_ms / 1000
        if not _fresh(state, last, now) or e.key == unix:
            stale += 1
            continue
        out.append((e, index, last))
    return out, stale, unknown


def _age(now: float, last: float) -> int:
    return max(0, int((now - last) * 1000))


def _fresh(state: PenState, last: float, now: float) -> bool:
    t = state.settings.tracking
    return not (t > 0 and last + t < now)


class PlainTable:
    """One process's ClientTable (pen.core.balance.clients)."""

    def __init__(self, state: PenState, store: PlainStore) -> None:
        self.state, self.store = state, store
        self.names = _Names(state)
        store.feed = {}

    def config(self) -> Config:
        return config_of(self.state)

    def _row(self, client: Client, now: float) -> Row | None:
        name = self.names.name(client.server)
        if name is None or client.address == UNIX_CLIENT or not _fresh(self.state, client.last, now):
            return None
        return client_key(client.address), _age(now, client.last), name

    def snapshot(self, now: float) -> list[Row]:
        self.names.refresh()
        if self.store.feed:
            self.store.feed = {}
        rows = [self._row(c, now) for c in self.state.clients.active()]
        return [r for r in rows if r is not None]

    def drain(self, now: float) -> list[Row]:
        feed = self.store.feed
        if not feed:
            return []
        self.store.feed = {}
        self.names.refresh()
        out = []
        for address, client in feed.items():
            if client.address == address:          # else its slot went to another client
                row = self._row(client, now)
                if row is not None:
                    out.append(row)
        return out

    def apply(self, entries: list[Entry], now: float) -> tuple[int, int, int]:
        todo, stale, unknown = _candidates(self.names, self.state, entries, now)
        merge = self.state.clients.merge
        applied = 0
        for e, index, last in todo:
            if merge(key_text(e.key), index, last):
                applied += 1
        return applied, stale + len(todo) - applied, unknown


class SharedTable:
    """The workers' shared client table, read and written by the main process."""

    def __init__(self, state: PenState, store: SharedStore) -> None:
        self.state, self.store = state, store
        self.names = _Names(state)
        self.tail = store.tables.ring_head[0]

    def config(self) -> Config:
        return config_of(self.state)

    def _row(self, i: int, now: float) -> Row | None:
        t = self.store.tables
        last = t.last[i]
        name = self.names.name(int(t.cl[i * 4 + CL_SERVER]))
        if name is None or not last or not _fresh(self.state, last, now):
            return None
        key = bytes(t.keys[i * 16:(i + 1) * 16])
        if key == client_key(UNIX_CLIENT):
            return None
        return key, _age(now, last), name

    def snapshot(self, now: float) -> list[Row]:
        self.names.refresh()
        t = self.store.tables
        self.tail = t.ring_head[0]
        rows = [self._row(i, now) for i, _ in t.entries()]
        return [r for r in rows if r is not None]

    def drain(self, now: float) -> list[Row]:
        t = self.store.tables
        slots, self.tail, lost = t.changes_since(self.tail)
        if lost:
            return self.snapshot(now)     # the ring went round: send everything
        if not slots:
            return []
        self.names.refresh()
        rows = [self._row(i, now) for i in dict.fromkeys(slots)]
        return [r for r in rows if r is not None]

    def apply(self, entries: list[Entry], now: float) -> tuple[int, int, int]:
        todo, stale, unknown = _candidates(self.names, self.state, entries, now)
        t = self.store.tables
        applied = 0
        with self.store.lock:
            for e, index, last in todo:
                i = t.find(e.key)
                if i >= 0 and t.last[i] >= last:
                    continue
                if i < 0:
                    i, _ = t.claim(e.key)
                t.cl[i * 4 + CL_SERVER] = index
                t.last[i] = last
                applied += 1
        return applied, stale + len(todo) - applied, unknown
