"""The dispatcher: the one owner of server and client state decisions (docs/architecture.md).

Every rule that changes a server's counters or status, the client table or the wait queue is
here, for TCP, UDP and DSR alike: admission (-x, pending_max), the outcome of a connect
(started, connected, failed because of the server, failed because pen itself is short of
descriptors, timed out), blacklisting (-b), the failover order (pen(1) "-b", "-S"; through
`pen.core.balance.selection`), the wait queue (queue_max, queue_timeout), idle expiry (idle_timeout)
and health verdicts.  It is fed `now` and returns what the shell must do; it never touches a
socket or a clock, so every rule is tested with a fake clock in milliseconds.

A connection (or UDP flow) is a `Ticket`.  The shell asks `admit` for one, then carries out
`ticket.step`:

  CONNECT  start a connect to `ticket.srv` and report `connect_started`, then `connected` or
           `connect_failed` (whose result is the next step);
  WAIT     the client is in the wait queue; a later `closed` or `tick` hands it back, its
           place on a server already reserved, so the shell of its owner (a Conn, a UDP
           flow) must carry it out, or call `closed`;
  RETRY    pen is short of descriptors: pause accepts for RETRY_DELAY, then call `retry`;
  REFUSE   close the client (already counted as refused);
  DONE     nothing to do (the connection is established, or closed).

What is worth logging (a blacklisting, a refusal and why) collects in `notes` as (level,
message) pairs, which the shell drains into its log once per loop pass.

Counters and the client table are reached through a `Store` (pen.core.balance.store): plain objects in
one process, shared memory with workers; the dispatcher does not know which.  `ticket.owner`
is the shell's object for the ticket (a Conn, a Flow); the dispatcher never looks inside it.
"""
from __future__ import annotations

from collections import deque
from typing import Final, Iterable

from pen.core.balance import selection
from pen.core.balance.clients import Client
from pen.core.balance.servers import DROP, NO_SERVER, Server
from pen.core.balance.state import PenState
from pen.core.balance.store import PlainStore, Store
from pen.core.health import HealthState

# Final: a compiled module (scripts/compile.sh) inlines these instead of looking each up by
# name on every use
# steps
CONNECT: Final = "connect"
WAIT: Final = "wait"
RETRY: Final = "retry"
REFUSE: Final = "refuse"
DONE: Final = "done"
# phases
NEW: Final = 0
QUEUED: Final = 1
CONNECTING: Final = 2
CONNECTED: Final = 3
CLOSED: Final = 4

RETRY_DELAY: Final = 0.1          # seconds: accepts paused and connect retried when pen lacks fds
CONNECT_SWEEP: Final = 0.05       # seconds between checks for connect timeouts
DEFAULT_FLOW_IDLE: Final = 60.0   # UDP flows expire after this unless idle_timeout is set


class Ticket:
    """What the dispatcher knows of one client connection or UDP flow."""

    __slots__ = ("client", "who", "initial", "server", "srv", "step", "phase",
                 "opened", "tried_at", "deadline", "queued_until", "owner")

    def __init__(self, client: Client, who: selection.ClientAddr, now: float) -> None:
        self.client = client
        self.who = who
        self.initial = NO_SERVER       # the initial choice (failover stops after it)
        self.server = NO_SERVER        # the server tried or connected now
        self.srv: Server | None = None
        self.step = DONE
        self.phase = NEW
        self.opened = now
        self.tried_at = now            # when the connect to `server` was decided
        self.deadline = 0.0            # end of the connect timeout while CONNECTING
        self.queued_until = 0.0        # end of the wait while QUEUED
        self.owner: object = None

    @property
    def connected(self) -> bool:
        return self.phase == CONNECTED


def server_of(ticket: Ticket) -> Server:
    """The server of a ticket past the choice (CONNECTING or CONNECTED): always set."""
    srv = ticket.srv
    assert srv is not None, "a connecting or connected ticket has a server"
    return srv


class Dispatcher:
    __slots__ = ("state", "store", "nconns", "pending", "connecting", "queue", "next_sweep",
                 "connections_total", "refused_total", "queued_total", "paused_until", "notes")

    def __init__(self, state: PenState, store: Store | None = None) -> None:
        self.state = state
        self.store: Store = store if store is not None else PlainStore(state)
        self.nconns = 0                # tickets admitted and not closed (-x)
        self.pending = 0               # connects in progress (pending_max)
        self.connecting: dict[Ticket, float] = {}    # CONNECTING tickets -> deadline
        self.queue: deque[Ticket] = deque()
        self.next_sweep = 0.0
        self.connections_total = 0
        self.refused_total = 0
        self.queued_total = 0
        self.paused_until = 0.0        # accepts paused (pen short of descriptors)
        self.notes: list[tuple[str, str]] = []       # (level, message) for the shell's log

    def use_store(self, store: Store) -> None:
        """--workers: from now on the state is the shared one (before any client)."""
        self.store = store

    # -- admission ----------------------------------------------------------------------------
    def can_accept(self, now: float) -> bool:
        """May the shell accept another client now (-x, pending_max, a descriptor shortage)?"""
        store = self.store
        return (now >= self.paused_until and not store.at_conn_max(self.nconns)
                and not store.at_pending_max(self.pending))

    def at_conn_max(self) -> bool:
        """-x reached (UDP then forgets its least recently used flow)."""
        return self.store.at_conn_max(self.nconns)

    def accepted(self) -> None:
        """A client was accepted (counted even if it is refused later, as `connections`)."""
        self.connections_total += 1

    def refuse_unadmitted(self) -> None:
        """A client closed before admission (no PROXY header, TLS set-up failed)."""
        self.refused_total += 1

    def accept_failed(self, now: float) -> None:
        """accept() itself ran out of descriptors: stop accepting for a moment."""
        self.paused_until = now + RETRY_DELAY

    def admit(self, host: str, port: int, now: float) -> Ticket:
        """The client's address is known: track it, choose its server; `ticket.step` says what
        next (CONNECT, or REFUSE when the client ACL denies it and there is no abuse server)."""
        st = self.state
        with self.store.deciding():
            full = self.store.at_conn_max(self.nconns)   # exact -x, also across workers
            self.nconns += 1
            self.store.count(+1, 0)
            client = self.store.track(host, now)
            who = selection.ClientAddr(host, port)
            ticket = Ticket(client, who, now)
            if full:
                return self._refuse(ticket, f"-x {st.settings.conn_max} reached; client "
                                            f"{host or 'unix'} closed", "warning")
            initial, first = selection.choose(st, client, who, now)
            ticket.initial = initial
            if initial == DROP:
                return self._refuse(ticket, f"client {host or 'unix'} denied by client_acl "
                                            f"{st.settings.client_acl}")
            return self._route(ticket, first, now)

    def _route(self, ticket: Ticket, index: int, now: float) -> Ticket:
        """Carry a choice out: reserve a place on the server (counted as a connect in progress
        from here, inside the same `deciding()` as the choice, so a limit holds exactly across
        workers), or queue or refuse the client when there is none."""
        if index in (NO_SERVER, DROP):
            if index == NO_SERVER and self._enqueue(ticket, now):
                return ticket
            return self._refuse(ticket, f"no server for client {ticket.who.host or 'unix'}; "
                                        "closing")
        ticket.server = index
        srv = ticket.srv = self.state.servers.get(index)
        assert srv is not None, "selection chose an index outside the server table"
        ticket.step = CONNECT
        # tracked from the choice on (pen(1) -T), inside the same decision: a second
        # connection of this client, in another worker, follows it
        selection.record_choice(self.state, ticket.client, index)
        self.store.tracked(ticket.client)
        self.store.connecting(srv, +1)
        self.pending += 1
        ticket.phase = CONNECTING
        ticket.tried_at = now
        ticket.deadline = now + self.state.settings.timeout
        return ticket

    def _refuse(self, ticket: Ticket, why: str, level: str = "info") -> Ticket:
        ticket.step = REFUSE
        self.refused_total += 1
        self.notes.append((level, why))
        return ticket

    # -- the connect ----------------------------------------------------------------------------
    def connect_started(self, ticket: Ticket, now: float, established: bool = False) -> None:
        """The shell started the connect to ticket.srv (`established`: it completed at once)."""
        ticket.step = DONE
        if established:
            self.connected(ticket)
        else:
            self.connecting[ticket] = ticket.deadline

    def connected(self, ticket: Ticket) -> None:
        """The connect in progress (TCP, and TLS where wanted) completed."""
        self._end_connect(ticket)
        self.store.opened(server_of(ticket))
        ticket.phase, ticket.step = CONNECTED, DONE

    def _end_connect(self, ticket: Ticket) -> None:
        if ticket.phase == CONNECTING:
            self.store.connecting(server_of(ticket), -1)
            self.pending -= 1
            self.connecting.pop(ticket, None)
        ticket.phase = NEW

    def connect_failed(self, ticket: Ticket, now: float, why: str,
                       local_shortage: bool = False) -> Ticket:
        """A connect to ticket.srv failed (at once or later).  `local_shortage`: pen itself
        lacked descriptors, memory or a local port, which is not the server's fault, so it is
        not blacklisted (issue 10); the client waits up to the connect timeout.  Otherwise the
        server is blacklisted and the next one in failover order is tried; but not when the
        connect began before `retry_servers` forgave the server: such a connect was lost with
        this node's own link (docs/penvrrp.md "Tracking"), and blacklisting the server for it
        would undo the retry."""
        self._end_connect(ticket)
        if local_shortage:
            self.paused_until = now + RETRY_DELAY
            if now - ticket.opened > self.state.settings.timeout:
                return self._refuse(ticket, f"{why} for client {ticket.who.host or 'unix'}; "
                                            "closing it", "warning")
            ticket.step = RETRY
            return ticket
        srv = ticket.srv
        if srv is not None and ticket.tried_at <= srv.retried_at:
            self.notes.append(("info", f"server {srv.index}: {why} of a connect begun before "
                                       "retry_servers; not blacklisted"))
            return self._fail_over(ticket, now)
        return self._blame(ticket, now, why)

    def retry(self, ticket: Ticket, now: float) -> Ticket:
        """After RETRY_DELAY: try the same server again."""
        if ticket.phase == CLOSED:
            ticket.step = DONE
            return ticket
        with self.store.deciding():
            return self._route(ticket, ticket.server, now)

    def lost(self, ticket: Ticket, now: float, why: str) -> Ticket:
        """An established UDP flow's server failed (ICMP unreachable): blacklist, fail over."""
        if ticket.phase == CONNECTED:
            self.store.closed(server_of(ticket))
        ticket.phase = NEW
        return self._blame(ticket, now, why)

    def _blame(self, ticket: Ticket, now: float, why: str) -> Ticket:
        self.blacklist(ticket.srv, now, why)
        return self._fail_over(ticket, now)

    def _fail_over(self, ticket: Ticket, now: float) -> Ticket:
        index = ticket.server
        with self.store.deciding():
            nxt = selection.next_failover(self.state, index, ticket.initial, ticket.client,
                                          ticket.who, now)
            return self._route(ticket, nxt, now)

    def blacklist(self, srv: Server | None, now: float, why: str) -> None:
        if srv is not None:
            self.store.blacklist(srv, now)
            self.notes.append(("info", f"blacklisting server {srv.index} because of {why}"))

    def expired_connects(self, now: float) -> list[tuple[Ticket, Server]]:
        """Connects past their timeout (-t), checked at most every CONNECT_SWEEP: each ticket
        comes back with the server that timed out, and with its next step (that server
        blacklisted, the next one chosen); the shell drops the upstream socket first, then
        carries the step out."""
        if now < self.next_sweep or not self.connecting:
            return []
        self.next_sweep = now + CONNECT_SWEEP
        late = [(t, server_of(t)) for t, deadline in self.connecting.items() if deadline <= now]
        for ticket, _ in late:
            self.connect_failed(ticket, now, "connect timeout")
        return late

    # -- the wait queue (pen-ha) -------------------------------------------------------------
    def _enqueue(self, ticket: Ticket, now: float) -> bool:
        """Park a client when servers exist but every one is at its limit."""
        s = self.state.settings
        if s.queue_max <= 0 or len(self.queue) >= s.queue_max or ticket.initial == DROP:
            return False
        if not any(selection.available(self.state, srv, now)
                   for srv in self.state.servers.servers):
            return False
        ticket.queued_until = now + s.queue_timeout
        ticket.phase, ticket.step = QUEUED, WAIT
        self.queue.append(ticket)
        self.queued_total += 1
        return True

    def _dequeue(self, now: float) -> list[Ticket]:
        """A server may have room again: waiting clients in order, each with its next step
        (CONNECT, or REFUSE when it waited longer than queue_timeout)."""
        out: list[Ticket] = []
        for _ in range(len(self.queue)):
            ticket = self.queue.popleft()
            if ticket.phase != QUEUED:
                continue
            if now > ticket.queued_until:
                self._refuse(ticket, f"client {ticket.who.host} waited "
                                     f"{self.state.settings.queue_timeout:.1f} s in the queue; "
                                     "closing")
                ticket.phase = NEW
                out.append(ticket)
                continue
            with self.store.deciding():
                initial, first = selection.choose(self.state, ticket.client, ticket.who, now)
                full = first in (NO_SERVER, DROP)
                if full:
                    self.queue.appendleft(ticket)   # still full: keep its place, stop here
                else:
                    ticket.queued_until = 0.0
                    ticket.phase = NEW
                    ticket.initial = initial
                    out.append(self._route(ticket, first, now))
            if full:        # out of the `with` first: mypyc cannot break out of a try/finally
                break
        return out

    # -- the end ---------------------------------------------------------------------------------
    def closed(self, ticket: Ticket, now: float) -> list[Ticket]:
        """The connection ended.  Returns waiting tickets with their next step (a connection
        that was established freed a place)."""
        if ticket.phase == CLOSED:
            return []
        was = ticket.phase
        if was == CONNECTED:
            self.store.closed(server_of(ticket))
        elif was == CONNECTING:
            self._end_connect(ticket)
        elif was == QUEUED:
            self.queue.remove(ticket)      # its place in queue_max is free at once
        ticket.phase, ticket.step = CLOSED, DONE
        ticket.owner = None       # no cycle with the shell's Conn: freed without the collector
        self.store.client_done(ticket.client)
        self.nconns -= 1
        self.store.count(-1, 0)
        if was == CONNECTED and self.queue:
            return self._dequeue(now)
        return []

    # -- periodic work ----------------------------------------------------------------------------
    def tick(self, now: float) -> list[Ticket]:
        """Once a second: the queue (expiry, and room freed by a limit or a blacklist ending)."""
        self.store.publish()
        return self._dequeue(now) if self.queue else []

    def idle_before(self) -> float | None:
        """idle_timeout: an established connection with no traffic for that long is closed;
        None when there is no idle timeout.  Subtract from `now`."""
        t = self.state.settings.idle_timeout
        return float(t) if t > 0 else None

    def idle(self, now: float, tickets_and_last: Iterable[tuple[Ticket, float]]) -> list[Ticket]:
        """The established connections to close as idle."""
        span = self.idle_before()
        if span is None:
            return []
        limit = now - span
        return [t for t, last in tickets_and_last if t.phase == CONNECTED and last < limit]

    def flow_idle(self) -> float:
        """UDP flows expire after idle_timeout, or DEFAULT_FLOW_IDLE without one."""
        return float(self.state.settings.idle_timeout or DEFAULT_FLOW_IDLE)

    # -- health, DSR -------------------------------------------------------------------------------
    def take_notes(self) -> list[tuple[str, str]]:
        notes, self.notes = self.notes, []
        return notes

    def health_result(self, srv: Server, ok: bool, what: str, now: float) -> bool | None:
        """A probe finished: True when the server came up, False when it went down, None when
        nothing changed.  Coming back up forgets a stale blacklist (a first success only
        proves the server: docs/pen.md, health checks)."""
        if srv.check is None or srv.health is None:
            return None
        changed = srv.health.record(ok, srv.check, now, what)
        if changed is not None:
            self.store.health(srv)
        if changed is True and srv.health.checks > 1:
            self.store.unblacklist(srv)
        return changed

    def start_checking(self, srv: Server) -> None:
        """srv got a health check: it starts up (it gets traffic until it proves otherwise)."""
        if srv.health is None:
            srv.health = HealthState()

    def agent_state(self, srv: Server, weight_percent: int | None, state: str | None) -> None:
        """An agent check's reply: a weight percentage, `drain` (sticky, as HAProxy's) or `up`."""
        if weight_percent is not None:
            srv.agent_weight = weight_percent
        if state == "drain":
            srv.drain, srv.drain_sticky = True, True
        elif state == "up":
            srv.drain = False

    def available_weights(self, now: float, family: int) -> list[int | None]:
        """DSR's view: each server's weight if it may take new clients, else None."""
        st = self.state
        return [srv.weight if selection.available(st, srv, now) and srv.family == family
                else None for srv in st.servers.servers]
