"""UDP mode (-U): datagram balancing with per-flow affinity (pen(1) -U).

A flow is a client ip:port.  Its first datagram runs normal selection; the flow then sticks to
that server through a connected upstream socket, and replies go back from the listening socket.
Unlike C pen, a dead UDP backend is noticed: an ICMP port unreachable on the connected socket
(ECONNREFUSED) blacklists the server and moves the flow to the next one, re-sending what the
dead server never answered (C pen issues #19 and #31).  Idle flows expire.  With a wait queue
(queue_max) a new flow that finds every server full waits, its last datagrams kept, and is sent
on when the dispatcher hands its ticket back (docs/pen.md "Queueing").  Which server, the
blacklisting, the queue and the failover are the dispatcher's (pen.core.balance.dispatch); this carries
them out.
"""
from __future__ import annotations

import errno
import logging
import socket
from collections import OrderedDict, deque
from typing import TYPE_CHECKING, Callable

from pen.core.balance.dispatch import CONNECT, WAIT, server_of
from pen.engine import transparent
from pen.engine.reactor import EPOLLIN

if TYPE_CHECKING:
    from pen.core.balance.dispatch import Ticket
    from pen.core.balance.servers import Server
    from pen.engine.balancer import Balancer

log = logging.getLogger("pen")

MAX_DATAGRAM = 65535
UNANSWERED_KEPT = 16        # datagrams re-sent after a failover


class Flow:
    __slots__ = ("key", "ticket", "client", "who", "srv", "up", "fd", "last", "unanswered")

    def __init__(self, key: tuple, ticket: Ticket) -> None:
        self.key, self.ticket = key, ticket
        self.client, self.who = ticket.client, ticket.who
        self.srv: Server | None = None
        self.up: socket.socket | None = None
        self.fd = -1
        self.last = 0.0
        self.unanswered: deque[bytes] = deque(maxlen=UNANSWERED_KEPT)


class UdpBalancer:
    def __init__(self, bal: Balancer, lsock: socket.socket) -> None:
        self.bal = bal
        self.lsock = lsock
        self.flows: OrderedDict[tuple, Flow] = OrderedDict()   # least recently used first
        # while the start-up probes run, datagrams wait in the socket buffer, as TCP clients
        # wait in the backlog (health.holding)
        held = bal.health is not None and bal.health.holding()
        bal.reactor.add(lsock.fileno(), 0 if held else EPOLLIN, self.on_datagram)

    def resume(self) -> None:
        """The start-up probes are in: read datagrams."""
        self.bal.reactor.set_mask(self.lsock.fileno(), EPOLLIN)

    def on_datagram(self, ev: int) -> None:
        bal = self.bal
        for _ in range(bal.state.settings.multi_accept):
            try:
                data, addr = self.lsock.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                log.info("udp listener: %s", e.strerror)
                return
            flow = self.flows.get(addr)
            if flow is None:
                flow = self.new_flow(addr)
                if flow is None:
                    continue
            else:
                self.flows.move_to_end(addr)
            flow.last = bal.reactor.now
            flow.client.crx += len(data)
            if bal.logsink is not None:
                bal.log_request_for(flow.who, flow.srv, 0, data)
            flow.unanswered.append(data)
            if flow.up is not None:       # else it waits in the queue, its datagrams kept
                self.send(flow, data)

    def new_flow(self, addr: tuple) -> Flow | None:
        bal = self.bal
        d = bal.dispatcher
        now = bal.reactor.now
        if self.flows and d.at_conn_max():
            _, oldest = self.flows.popitem(last=False)
            self.drop(oldest, forget=False)
        d.accepted()
        ticket = d.admit(addr[0], addr[1], now)
        flow = Flow(addr, ticket)
        ticket.owner = flow
        if not self.attach(flow) and ticket.step != WAIT:
            self.bal.carry_out_all(d.closed(ticket, now))
            return None
        self.flows[addr] = flow
        return flow

    def carry_out(self, ticket: Ticket) -> None:
        """The dispatcher handed a waiting flow's ticket back: connect it and send what it
        kept, or (refused: it waited past queue_timeout) forget it."""
        flow = ticket.owner
        if not isinstance(flow, Flow) or self.flows.get(flow.key) is not flow:
            self.bal.dispatcher.closed(ticket, self.bal.reactor.now)    # nobody to carry it
            return
        if self.attach(flow):
            flow.last = self.bal.reactor.now        # its wait was not idleness
            self.flows.move_to_end(flow.key)
            for data in list(flow.unanswered):
                self.send(flow, data)
        elif flow.ticket.step != WAIT:
            self.drop(flow)

    def attach(self, flow: Flow) -> bool:
        """Connect the flow to its ticket's server; an immediate error gives the next one."""
        bal = self.bal
        d = bal.dispatcher
        s = bal.state.settings
        ticket = flow.ticket
        while ticket.step == CONNECT:
            srv = server_of(ticket)
            assert srv.sockaddr is not None, "a server without an address is never chosen"
            try:
                up = socket.socket(srv.family, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK)
            except OSError as e:
                log.warning("udp socket: %s", e.strerror)
                d.connect_failed(ticket, bal.reactor.now, e.strerror or "udp socket",
                                 local_shortage=True)
                return False
            try:
                if s.source:
                    up.bind((s.source, 0))
                elif s.transparent and srv.family == socket.AF_INET:
                    transparent.bind_to_client(up, flow.who.host)     # issue 11
                up.connect(srv.sockaddr)
            except OSError as e:
                up.close()
                d.connect_failed(ticket, bal.reactor.now, f"udp connect failure ({e.strerror})")
                continue
            flow.up, flow.fd, flow.srv = up, up.fileno(), srv
            d.connect_started(ticket, bal.reactor.now, established=True)
            bal.reactor.add(flow.fd, EPOLLIN, self._reply_handler(flow))
            return True
        return False

    def _reply_handler(self, flow: Flow) -> Callable[[int], None]:
        return lambda ev: self.on_reply(flow, ev)

    def send(self, flow: Flow, data: bytes) -> None:
        up, srv = flow.up, flow.srv
        assert up is not None and srv is not None, "sending on a flow not attached"
        try:
            up.send(data)
            srv.sx += len(data)
        except (BlockingIOError, InterruptedError):
            pass                        # a full socket buffer drops the datagram, as UDP does
        except OSError as e:
            self.failed(flow, e.errno)

    def on_reply(self, flow: Flow, ev: int) -> None:
        up, srv = flow.up, flow.srv
        assert up is not None and srv is not None, "a reply on a flow not attached"
        for _ in range(64):
            try:
                data = up.recv(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                self.failed(flow, e.errno)
                return
            flow.last = self.bal.reactor.now
            flow.unanswered.clear()
            srv.rx += len(data)
            flow.client.csx += len(data)
            try:
                self.lsock.sendto(data, flow.key)
            except OSError:
                pass

    def failed(self, flow: Flow, err: int | None) -> None:
        """ICMP unreachable (ECONNREFUSED) or another error: blacklist, fail the flow over."""
        bal = self.bal
        why = errno.errorcode.get(err or 0, str(err))
        self.detach(flow)
        bal.dispatcher.lost(flow.ticket, bal.reactor.now, f"udp error {why}")
        if not self.attach(flow):
            if flow.ticket.step == WAIT:
                return                  # every other server is full: wait for one
            log.info("udp flow %s:%d has no server left", *flow.key[:2])
            self.drop(flow)
            return
        for data in list(flow.unanswered):
            self.send(flow, data)

    def detach(self, flow: Flow) -> None:
        if flow.up is not None:
            self.bal.reactor.remove(flow.fd)
            flow.up.close()
            flow.up = None

    def drop(self, flow: Flow, forget: bool = True) -> None:
        self.detach(flow)
        if forget:
            self.flows.pop(flow.key, None)
        self.bal.carry_out_all(self.bal.dispatcher.closed(flow.ticket, self.bal.reactor.now))

    def expire(self, now: float) -> None:
        idle = self.bal.dispatcher.flow_idle()
        while self.flows:
            key, flow = next(iter(self.flows.items()))
            if now - flow.last < idle:
                break
            self.drop(flow)

    def close(self) -> None:
        for flow in list(self.flows.values()):
            self.drop(flow)
        self.bal.reactor.remove(self.lsock.fileno())
