"""The dispatcher's state in shared memory, for `--workers N` (docs/architecture.md "Workers").

One writable buffer (an anonymous shared mmap made before the workers fork; a bytearray in the
tests) holds, in fixed-size arrays:

- per server and per worker: established, in progress, total, failures, bytes both ways.  Each
  worker writes only its own row, so counting needs no cross-process atomics; readers sum.
- per server: the blacklist time (`blacklisted_at`), last writer wins (it is a time, not a count),
  and whether its health check has it up (written by the main process, which runs the checks).
- per worker: connections, connects in progress, accepted, refused and queued totals (-x and
  pending_max hold over the sum).
- the client table: open addressing on the client's address, linear probing; a full probe
  window evicts its least recently seen entry (C pen evicted the least recently used slot).
  It starts at the buffer's end, sized from -c; `clients_max` past that grows it (C pen's
  "only grows"): under the lock, `grow` rehashes every entry into a larger buffer of its own
  (a segment, made by the shell) and bumps the generation in the header, and every other
  process maps that segment at its next lock (`attach`), one integer compared per lock.

`SharedStore` is the `pen.core.balance.store.Store` over it: inside `deciding()` (the process-shared
lock, given by the caller) it refreshes the Server objects the selection algorithms read from
the sums, and every change is written through to this worker's row.  Addresses, limits and
weights are not here: the main process replays configuration commands to every worker.
"""
from __future__ import annotations

import hashlib
import ipaddress
import socket
from typing import TYPE_CHECKING, Callable, Final, Iterator, Protocol, Union

from pen.core.balance.clients import UNIX_CLIENT, Client, ClientTable
from pen.core.balance.servers import MAX_SERVERS, NEVER, Server
from pen.core.balance.state import PenState

if TYPE_CHECKING:
    import mmap

    Buffer = Union[mmap.mmap, memoryview, bytearray]

# Final: a compiled module (scripts/compile.sh) inlines these instead of looking each up by
# name on every use
MAX_WORKERS: Final = 64
SERVER_SLOTS: Final = MAX_SERVERS + 2   # the real servers, then emergency and abuse
# a server's fields in a worker's row
C: Final = 0
PENDING: Final = 1
TOTAL: Final = 2
FAILURES: Final = 3
SX: Final = 4
RX: Final = 5
SERVER_FIELDS: Final = 6
# a worker's fields
CONNS: Final = 0
WPENDING: Final = 1
ACCEPTED: Final = 2
REFUSED: Final = 3
QUEUED: Final = 4
WORKER_FIELDS: Final = 5
KEY: Final = 16                          # an IPv6 address, an IPv4-mapped one, or a digest
PROBE: Final = 16                        # client-table probe window
KEY_CACHE: Final = 4096                  # client keys remembered per process
EMPTY_KEY: Final = bytes(KEY)
CLIENT_FIELDS: Final = 5                 # server, connects, csx, crx (int64) + last (float)
# a client entry's int64 fields
CL_SERVER: Final = 0
CL_CONNECTS: Final = 1
CL_CSX: Final = 2
CL_CRX: Final = 3
ENTRY: Final = KEY + 8 * CLIENT_FIELDS   # bytes per client-table entry
RING: Final = 8192                       # change ring: client entries tracked, for the peers
# the header: the client table's generation and size
GENERATION: Final = 0
CAPACITY: Final = 1


class Lock(Protocol):
    """A process-shared lock (a multiprocessing SemLock; a threading.Lock in the tests)."""

    def acquire(self) -> bool: ...
    def release(self) -> None: ...
    def __enter__(self) -> bool: ...
    def __exit__(self, *exc: object) -> None: ...


def slot_of(index: int) -> int:
    """Server index (>= 0, or EMERGENCY -1 / ABUSE -2) -> its row."""
    return index if index >= 0 else MAX_SERVERS - 1 - index


def client_capacity(clients_max: int) -> int:
    n = 64
    while n < 2 * clients_max:
        n *= 2
    return n


def segment_size(capacity: int) -> int:
    """Bytes of a client table of `capacity` entries: keys, then cl, then last."""
    return capacity * ENTRY


def layout_size(workers: int, clients_max: int) -> int:
    """Bytes of the shared buffer: the counters, the header, the ring, the first client table."""
    return (8 * SERVER_SLOTS * SERVER_FIELDS * workers + 16 * SERVER_SLOTS + 16 + 16
            + 8 * WORKER_FIELDS * workers + 8 * (RING + 1)
            + segment_size(client_capacity(clients_max)))


_V4_MAPPED: Final = bytes(10) + b"\xff\xff"


def client_key(address: str) -> bytes:
    """16 bytes naming a client: its IPv6 (or IPv4-mapped) address; a digest for the rest."""
    try:
        return _V4_MAPPED + socket.inet_pton(socket.AF_INET, address)
    except OSError:
        pass
    try:
        packed = socket.inet_pton(socket.AF_INET6, address.split("%", 1)[0])
    except OSError:
        return hashlib.blake2b(address.encode(), digest_size=KEY).digest()
    return packed if packed != EMPTY_KEY else b"\1" + bytes(KEY - 1)


def key_text(key: bytes) -> str:
    """The address text of a client key (a digest shows as the unix-socket client)."""
    if key[:12] == _V4_MAPPED:
        return socket.inet_ntop(socket.AF_INET, key[12:])
    if key[:1] == b"\1" and key[1:] == bytes(KEY - 1):
        return "::"
    ip = ipaddress.IPv6Address(key)
    return UNIX_CLIENT if key == client_key(UNIX_CLIENT) else str(ip)


class SharedTables:
    """Typed views of the buffer; `workers` rows of counters, the client table (in the buffer,
    or in `segment` once it has grown: the one the header names)."""

    def __init__(self, buf: Buffer, workers: int, clients_max: int,
                 segment: Buffer | None = None) -> None:
        if not 1 <= workers <= MAX_WORKERS:
            raise ValueError(f"workers must be 1-{MAX_WORKERS}")
        mem = memoryview(buf)
        self.workers = workers
        at = 0

        def take(nbytes: int) -> memoryview:
            nonlocal at
            view = mem[at:at + nbytes]
            at += nbytes
            return view

        # int64 ("q") and double ("d") arrays
        self.servers = take(8 * SERVER_SLOTS * SERVER_FIELDS * workers).cast("q")
        self.blacklisted_at = take(8 * SERVER_SLOTS).cast("d")
        self.up = take(8 * SERVER_SLOTS).cast("q")
        self.rr = take(16).cast("q")            # round robin pointer, last server chosen
        self.head = take(16).cast("q")          # GENERATION, CAPACITY (0 at first: in `buf`)
        self.worker = take(8 * WORKER_FIELDS * workers).cast("q")
        self.ring_head = take(8).cast("q")      # entries ever written to the ring
        self.ring = take(8 * RING).cast("q")
        capacity = client_capacity(clients_max)
        if at + segment_size(capacity) > len(mem):
            raise ValueError("shared buffer too small")
        self.generation = 0                     # the client table this process has mapped
        self._view(mem[at:], capacity)
        if segment is not None:
            self.attach(segment)

    def _view(self, segment: Buffer, capacity: int) -> None:
        mem = memoryview(segment)
        self.capacity = capacity
        self.keys = mem[:capacity * KEY]
        self.cl = mem[capacity * KEY:capacity * (KEY + 32)].cast("q")
        self.last = mem[capacity * (KEY + 32):capacity * ENTRY].cast("d")

    def attach(self, segment: Buffer) -> None:
        """Another process grew the client table into `segment`: map it (the header holds its
        generation and size)."""
        self._view(segment, self.head[CAPACITY])
        self.generation = self.head[GENERATION]

    def grow(self, segment: Buffer, capacity: int) -> None:
        """Under the lock: every entry (its key, cl row and last-seen time) rehashed into
        `segment`, a zeroed buffer of segment_size(capacity), which becomes the table of a new
        generation.  Oldest first, so should a probe window fill, the stalest entry goes, as
        in `claim`.  The change ring's entry numbers are the old table's: its head jumps a
        whole ring on, so a reader sees an overflow and reads the whole table again."""
        if capacity <= self.capacity or len(segment) < segment_size(capacity):
            raise ValueError(f"cannot grow the client table from {self.capacity} to {capacity}")
        cl, order = self.cl, sorted((self.last[i], i, key) for i, key in self.entries())
        self.head[CAPACITY] = capacity
        self.head[GENERATION] = self.generation + 1
        self.attach(segment)
        for seen, i, key in order:
            j, _ = self.claim(key)
            self.cl[j * 4:j * 4 + 4] = cl[i * 4:i * 4 + 4]
            self.last[j] = seen
        self.ring_head[0] += RING + 1

    def initialise(self) -> None:
        for i in range(SERVER_SLOTS):
            self.blacklisted_at[i] = NEVER
            self.up[i] = 1

    # -- counters -----------------------------------------------------------------------------
    def server_at(self, worker: int, index: int, field: int) -> int:
        return (worker * SERVER_SLOTS + slot_of(index)) * SERVER_FIELDS + field

    def add(self, worker: int, index: int, field: int, delta: int) -> None:
        self.servers[self.server_at(worker, index, field)] += delta

    def server_sum(self, index: int, field: int) -> int:
        step = SERVER_SLOTS * SERVER_FIELDS
        base = self.server_at(0, index, field)
        return sum(self.servers[base + w * step] for w in range(self.workers))

    def worker_sum(self, field: int) -> int:
        return sum(self.worker[w * WORKER_FIELDS + field] for w in range(self.workers))

    def release_worker(self, worker: int, into: int) -> None:
        """A worker died: its connections are gone, so its place counts go; its totals move to
        row `into` (the main process's), so the sums keep them and a new worker starts at 0."""
        for index in range(SERVER_SLOTS):
            base = (worker * SERVER_SLOTS + index) * SERVER_FIELDS
            keep = (into * SERVER_SLOTS + index) * SERVER_FIELDS
            for field in (TOTAL, FAILURES, SX, RX):
                self.servers[keep + field] += self.servers[base + field]
            for field in range(SERVER_FIELDS):
                self.servers[base + field] = 0
        self.worker[worker * WORKER_FIELDS + CONNS] = 0
        self.worker[worker * WORKER_FIELDS + WPENDING] = 0

    # -- the client table ------------------------------------------------------------------------
    def _home(self, key: bytes) -> int:
        """The key's home entry: Fibonacci hashing of its two halves, so IPv4-mapped keys
        (whose low bytes are all alike, ::ffff:a.b.c.d) spread over the whole table.  Folding
        the halves alone put every IPv4 client in one probe window (16 entries in all)."""
        h = int.from_bytes(key[:8], "big") ^ int.from_bytes(key[8:], "big")
        return ((h * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF) >> 32

    def find(self, key: bytes) -> int:
        """The entry holding `key`, or -1."""
        cap = self.capacity
        i = self._home(key) & (cap - 1)
        for _ in range(PROBE):
            k = self.keys[i * KEY:(i + 1) * KEY]
            if k == key:
                return i
            if k == EMPTY_KEY:
                return -1
            i = (i + 1) & (cap - 1)
        return -1

    def claim(self, key: bytes) -> tuple[int, bool]:
        """The entry for `key`: found, or a free one, or the stalest of the window (reset)."""
        cap = self.capacity
        i = self._home(key) & (cap - 1)
        stalest, oldest = -1, float("inf")
        for _ in range(PROBE):
            k = self.keys[i * KEY:(i + 1) * KEY]
            if k == key:
                return i, False
            if k == EMPTY_KEY:
                stalest = i
                break
            if self.last[i] < oldest:
                stalest, oldest = i, self.last[i]
            i = (i + 1) & (cap - 1)
        self.keys[stalest * KEY:(stalest + 1) * KEY] = key
        base = stalest * 4
        self.cl[base + CL_SERVER] = -3
        self.cl[base + CL_CONNECTS] = self.cl[base + CL_CSX] = self.cl[base + CL_CRX] = 0
        self.last[stalest] = 0.0
        return stalest, True

    def changed(self, entry: int) -> None:
        """An entry's tracked server was set (under the lock): into the change ring, which the
        main process reads for the peers (pen.core.peers.tables)."""
        head = self.ring_head[0]
        self.ring[head & (RING - 1)] = entry
        self.ring_head[0] = head + 1

    def changes_since(self, tail: int) -> tuple[list[int], int, bool]:
        """The entries changed since `tail` (a ring_head value), the new tail, and whether
        some were overwritten before they were read (then the caller reads the whole table)."""
        head = self.ring_head[0]
        if head - tail > RING:
            return [], head, True
        return [self.ring[i & (RING - 1)] for i in range(tail, head)], head, False

    def entries(self) -> Iterator[tuple[int, bytes]]:
        for i in range(self.capacity):
            k = bytes(self.keys[i * KEY:(i + 1) * KEY])
            if k != EMPTY_KEY:
                yield i, k


def _grown_elsewhere(generation: int) -> Buffer:
    raise RuntimeError(f"the client table grew to generation {generation} in another process, "
                       "and this one has no way to it")


class SharedStore:
    """The Store of one worker over SharedTables (pen.core.balance.store)."""

    def __init__(self, state: PenState, tables: SharedTables, worker: int,
                 lock: Lock, moves_bytes: bool = True,
                 segment: Callable[[int], Buffer] | None = None) -> None:
        """`moves_bytes`: a worker (its byte counts are published to its row); the main
        process, whose Server objects hold the sums, is not.  `segment`: generation -> the
        client table another process grew to (the shell maps it); None in the process that
        grows it."""
        self.state, self.tables, self.worker, self.lock = state, tables, worker, lock
        self.moves_bytes = moves_bytes
        self.segment = segment or _grown_elsewhere
        self.keys: dict[str, bytes] = {}     # address -> client key, a cache (KEY_CACHE)

    def deciding(self) -> SharedStore:
        return self

    def __enter__(self) -> None:
        """deciding(): the lock, then every Server object brought up to the sums."""
        self.lock.acquire()
        try:
            t, st = self.tables, self.state
            if t.head[GENERATION] != t.generation:     # the client table grew
                t.attach(self.segment(t.head[GENERATION]))
            self.refresh()
            st.rr_last, st.current = t.rr[0], t.rr[1]
        except BaseException:
            self.lock.release()
            raise

    def __exit__(self, *exc: object) -> None:
        t, st = self.tables, self.state
        t.rr[0], t.rr[1] = st.rr_last, st.current      # round robin across workers
        self.lock.release()

    def initialise_from_config(self) -> None:
        """Before the workers start: what start-up commands set (a blacklisting, a health
        verdict, the round robin pointer) goes into the fresh tables."""
        t = self.tables
        st = self.state.servers
        for srv in [*st.servers, st.emergency, st.abuse]:
            if srv is not None:
                t.blacklisted_at[slot_of(srv.index)] = srv.blacklisted_at
                t.up[slot_of(srv.index)] = int(srv.health is None or srv.health.up)
        t.rr[0], t.rr[1] = self.state.rr_last, self.state.current

    def refresh(self) -> None:
        """Bring every Server object up to the sums over all workers."""
        t = self.tables
        rows, status, up = t.servers, t.blacklisted_at, t.up
        stride = SERVER_SLOTS * SERVER_FIELDS
        span = range(0, stride * t.workers, stride)
        st = self.state.servers
        for srv in (*st.servers, st.emergency, st.abuse):
            if srv is None:
                continue
            slot = slot_of(srv.index)
            base = slot * SERVER_FIELDS
            c = pending = 0
            for w in span:
                c += rows[base + w + C]
                pending += rows[base + w + PENDING]
            srv.c, srv.pending, srv.blacklisted_at = c, pending, status[slot]
            if srv.health is not None:
                srv.health.up = bool(up[slot])

    def refresh_all(self) -> None:
        """For the control port's replies: every counter summed over the workers."""
        self.refresh()
        t = self.tables
        st = self.state.servers
        for srv in [*st.servers, st.emergency, st.abuse]:
            if srv is not None:
                srv.total = t.server_sum(srv.index, TOTAL)
                srv.failures = t.server_sum(srv.index, FAILURES)
                srv.sx = t.server_sum(srv.index, SX)
                srv.rx = t.server_sum(srv.index, RX)

    def publish_health(self) -> None:
        """After a control command (a check added or removed): every server's verdict."""
        st = self.state.servers
        for srv in [*st.servers, st.emergency, st.abuse]:
            if srv is not None:
                self.tables.up[slot_of(srv.index)] = int(srv.health is None or srv.health.up)

    def publish_blacklistings(self, before: dict[int, float]) -> None:
        """A control command changed blacklist times (`server N blacklist T`): write the
        changed ones through.  `before`: server index -> status before the command."""
        for srv in self.state.servers.servers:
            if before.get(srv.index) != srv.blacklisted_at:
                self.tables.blacklisted_at[slot_of(srv.index)] = srv.blacklisted_at

    def publish(self) -> None:
        if self.moves_bytes:
            self.publish_bytes()

    def export_clients(self, table: ClientTable) -> None:
        """For `recent` and the status page: the main process's client table rebuilt from
        the shared one (slot numbers are the shared entries')."""
        t = self.tables
        table.slots, table.by_address, table.free = [], {}, []
        table.recency.clear()
        for i, key in t.entries():
            while len(table.slots) <= i:
                table.slots.append(None)
            base = i * 4
            client = Client(i, key_text(key), t.last[i], int(t.cl[base + CL_SERVER]),
                            int(t.cl[base + CL_CONNECTS]), int(t.cl[base + CL_CSX]),
                            int(t.cl[base + CL_CRX]))
            table.slots[i] = client
            table.by_address[client.address] = client

    def publish_bytes(self) -> None:
        """This worker's byte counts (kept on its Server objects by the data path) to its row,
        once a second."""
        t, w = self.tables, self.worker
        st = self.state.servers
        for srv in [*st.servers, st.emergency, st.abuse]:
            if srv is not None:
                t.servers[t.server_at(w, srv.index, SX)] = srv.sx
                t.servers[t.server_at(w, srv.index, RX)] = srv.rx

    def at_conn_max(self, conns: int) -> bool:
        return self.tables.worker_sum(CONNS) >= self.state.settings.conn_max

    def at_pending_max(self, pending: int) -> bool:
        return self.tables.worker_sum(WPENDING) >= self.state.settings.pending_max

    def count(self, conns: int, pending: int) -> None:
        row = self.worker * WORKER_FIELDS
        self.tables.worker[row + CONNS] += conns

    def track(self, host: str, now: float) -> Client:
        t = self.tables
        key = self.keys.get(host)
        if key is None:
            if len(self.keys) >= KEY_CACHE:
                self.keys.clear()
            key = self.keys[host] = client_key(host)
        i, fresh = t.claim(key)
        base = i * 4
        tracking = self.state.settings.tracking
        if not fresh and tracking > 0 and t.last[i] + tracking < now:
            t.cl[base + CL_SERVER] = -3         # tracking expired: a fresh choice
        t.last[i] = now
        t.cl[base + CL_CONNECTS] += 1
        client = Client(i, host, now, int(t.cl[base + CL_SERVER]), int(t.cl[base + CL_CONNECTS]))
        return client

    def _entry(self, client: Client) -> int:
        """The client's entry now, or -1: its slot, unless another client took that over or
        the table grew since (rehashed: then it is looked up, and the slot follows)."""
        key = self.keys.get(client.address)
        if key is None:
            key = client_key(client.address)
        t, i = self.tables, client.slot
        if t.keys[i * KEY:(i + 1) * KEY] == key:
            return i
        i = t.find(key)
        if i >= 0:
            client.slot = i
        return i

    def tracked(self, client: Client) -> None:
        i = self._entry(client)
        if i >= 0:
            self.tables.cl[i * 4 + CL_SERVER] = client.server
            self.tables.changed(i)

    def client_done(self, client: Client) -> None:
        """Byte counts are added without the lock (as each worker's counters are); but into
        the table of the current generation: a stale process takes the lock to follow it."""
        if self.tables.head[GENERATION] != self.tables.generation:
            with self:
                self._add_bytes(client)
        else:
            self._add_bytes(client)

    def _add_bytes(self, client: Client) -> None:
        i = self._entry(client)
        if i >= 0:
            t = self.tables
            t.cl[i * 4 + CL_CSX] += client.csx
            t.cl[i * 4 + CL_CRX] += client.crx

    def connecting(self, srv: Server, delta: int) -> None:
        self.tables.add(self.worker, srv.index, PENDING, delta)
        self.tables.worker[self.worker * WORKER_FIELDS + WPENDING] += delta
        srv.pending += delta

    def opened(self, srv: Server) -> None:
        self.tables.add(self.worker, srv.index, C, 1)
        self.tables.add(self.worker, srv.index, TOTAL, 1)
        srv.c += 1
        srv.total += 1

    def closed(self, srv: Server) -> None:
        self.tables.add(self.worker, srv.index, C, -1)
        srv.c -= 1

    def blacklist(self, srv: Server, now: float) -> None:
        self.tables.add(self.worker, srv.index, FAILURES, 1)
        self.tables.blacklisted_at[slot_of(srv.index)] = now
        srv.failures += 1
        srv.blacklisted_at = now

    def unblacklist(self, srv: Server) -> None:
        self.tables.blacklisted_at[slot_of(srv.index)] = NEVER
        srv.blacklisted_at = NEVER

    def health(self, srv: Server) -> None:
        if srv.health is not None:
            self.tables.up[slot_of(srv.index)] = int(srv.health.up)
