"""UDP mode (-U): datagram balancing with per-flow affinity (spec/pen-0.34.md §1.9).

A flow is a client ip:port.  Its first datagram runs normal selection; the flow then sticks to
that server through a connected upstream socket, and replies go back from the listening socket.
Unlike C pen, a dead UDP backend is noticed: an ICMP port unreachable on the connected socket
(ECONNREFUSED) blacklists the server and moves the flow to the next one, re-sending what the
dead server never answered (C pen issues #19 and #31).  Idle flows expire.
"""
from __future__ import annotations

import errno
import logging
import socket
from collections import OrderedDict, deque
from typing import TYPE_CHECKING

from pen.core import selection
from pen.core.servers import DROP, NO_SERVER
from pen.engine import transparent
from pen.engine.reactor import EPOLLIN

if TYPE_CHECKING:
    from pen.core.clients import Client
    from pen.core.servers import Server
    from pen.engine.balancer import Balancer

log = logging.getLogger("pen")

MAX_DATAGRAM = 65535
UNANSWERED_KEPT = 16        # datagrams re-sent after a failover
DEFAULT_FLOW_IDLE = 60.0    # seconds, unless idle_timeout is set


class Flow:
    __slots__ = ("key", "client", "who", "initial", "server", "srv", "up", "fd", "last",
                 "unanswered")

    def __init__(self, key: tuple, client: Client, who: selection.ClientAddr, initial: int) -> None:
        self.key, self.client, self.who, self.initial = key, client, who, initial
        self.server = NO_SERVER
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
        bal.reactor.add(lsock.fileno(), EPOLLIN, self.on_datagram)

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
            self.send(flow, data)

    def new_flow(self, addr: tuple) -> Flow | None:
        bal = self.bal
        st = bal.state
        now = bal.reactor.now
        if len(self.flows) >= st.settings.conn_max:
            _, oldest = self.flows.popitem(last=False)
            self.drop(oldest, forget=False)
        client = st.clients.store(addr[0], now, st.settings.tracking)
        who = selection.ClientAddr(addr[0], addr[1])
        initial, first = selection.choose(st, client, who, now)
        bal.connections_total += 1
        if initial == DROP:
            bal.refused_total += 1
            return None
        flow = Flow(addr, client, who, initial)
        if not self.attach(flow, first):
            bal.refused_total += 1
            return None
        self.flows[addr] = flow
        bal.nconns += 1
        return flow

    def attach(self, flow: Flow, index: int) -> bool:
        """Connect the flow to `index`, failing over on immediate errors."""
        bal = self.bal
        st = bal.state
        now = bal.reactor.now
        while index not in (NO_SERVER, DROP):
            srv = st.servers.get(index)
            try:
                up = socket.socket(srv.family, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK)
            except OSError as e:
                log.warning("udp socket: %s", e.strerror)
                return False
            try:
                if st.settings.source:
                    up.bind((st.settings.source, 0))
                elif st.settings.transparent and srv.family == socket.AF_INET:
                    transparent.bind_to_client(up, flow.who.host)     # issue 11, §1.11
                up.connect(srv.sockaddr)
            except OSError as e:
                up.close()
                bal.blacklist(srv, index, now, f"udp connect failure ({e.strerror})")
                index = selection.next_failover(st, index, flow.initial, flow.client, flow.who, now)
                continue
            flow.up, flow.fd, flow.server, flow.srv = up, up.fileno(), index, srv
            srv.c += 1
            srv.total += 1
            selection.record_choice(st, flow.client, index)
            bal.reactor.add(flow.fd, EPOLLIN, lambda ev, f=flow: self.on_reply(f, ev))
            return True
        return False

    def send(self, flow: Flow, data: bytes) -> None:
        try:
            flow.up.send(data)
            flow.srv.sx += len(data)
        except (BlockingIOError, InterruptedError):
            pass                        # a full socket buffer drops the datagram, as UDP does
        except OSError as e:
            self.failed(flow, e.errno)

    def on_reply(self, flow: Flow, ev: int) -> None:
        for _ in range(64):
            try:
                data = flow.up.recv(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                self.failed(flow, e.errno)
                return
            flow.last = self.bal.reactor.now
            flow.unanswered.clear()
            flow.srv.rx += len(data)
            flow.client.csx += len(data)
            try:
                self.lsock.sendto(data, flow.key)
            except OSError:
                pass

    def failed(self, flow: Flow, err: int | None) -> None:
        """ICMP unreachable (ECONNREFUSED) or another error: blacklist, fail the flow over."""
        bal = self.bal
        st = bal.state
        now = bal.reactor.now
        index = flow.server
        why = errno.errorcode.get(err or 0, str(err))
        bal.blacklist(flow.srv, index, now, f"udp error {why}")
        self.detach(flow)
        nxt = selection.next_failover(st, index, flow.initial, flow.client, flow.who, now)
        if not self.attach(flow, nxt):
            log.info("udp flow %s:%d has no server left", *flow.key[:2])
            self.flows.pop(flow.key, None)
            bal.nconns -= 1
            return
        for data in list(flow.unanswered):
            self.send(flow, data)

    def detach(self, flow: Flow) -> None:
        if flow.up is not None:
            self.bal.reactor.remove(flow.fd)
            flow.up.close()
            flow.up = None
            flow.srv.c -= 1

    def drop(self, flow: Flow, forget: bool = True) -> None:
        self.detach(flow)
        if forget:
            self.flows.pop(flow.key, None)
        self.bal.nconns -= 1

    def expire(self, now: float) -> None:
        idle = self.bal.state.settings.idle_timeout or DEFAULT_FLOW_IDLE
        while self.flows:
            key, flow = next(iter(self.flows.items()))
            if now - flow.last < idle:
                break
            self.drop(flow)

    def close(self) -> None:
        for flow in list(self.flows.values()):
            self.drop(flow)
        self.bal.reactor.remove(self.lsock.fileno())
