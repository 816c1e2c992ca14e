"""Runs active health checks on the event loop (decisions in pen.core.health).

One probe per checked server every `interval`, each a non-blocking connect (plus an HTTP
request or an agent read) bounded by `timeout`.  Nothing here blocks the loop.
"""
from __future__ import annotations

import errno
import logging
import socket
from typing import TYPE_CHECKING

from pen.core.balance.servers import Server
from pen.core.health import CheckSpec, agent_verdict, http_request, http_verdict
from pen.engine.reactor import EPOLLIN, EPOLLOUT, Timer

if TYPE_CHECKING:
    from pen.engine.balancer import Balancer

log = logging.getLogger("pen")
TICK = 0.1
MAX_REPLY = 4096


class Probe:
    __slots__ = ("checker", "srv", "spec", "sock", "fd", "timer", "sent", "reply", "done")

    def __init__(self, checker: HealthChecker, srv: Server, spec: CheckSpec) -> None:
        self.checker, self.srv, self.spec = checker, srv, spec
        self.sock: socket.socket | None = None
        self.fd = -1
        self.timer: Timer | None = None
        self.sent = False
        self.reply = b""
        self.done = False

    def start(self) -> None:
        srv, spec = self.srv, self.spec
        addr = srv.sockaddr
        if addr is None:
            self.finish(False, "no address")
            return
        if spec.port and isinstance(addr, tuple):
            addr = (addr[0], spec.port, *addr[2:])
        try:
            sock = self.sock = socket.socket(srv.family,
                                             socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
            err = sock.connect_ex(addr)
        except OSError as e:
            self.finish(False, f"connect: {e.strerror}")
            return
        if err not in (0, errno.EINPROGRESS, errno.EAGAIN):
            self.finish(False, f"connect: {errno.errorcode.get(err, err)}")
            return
        reactor = self.checker.bal.reactor
        self.fd = sock.fileno()
        reactor.add(self.fd, EPOLLOUT, self.on_event)
        self.timer = reactor.call_later(spec.timeout, lambda: self.finish(False, "timeout"))

    def on_event(self, ev: int) -> None:
        spec, sock = self.spec, self.sock
        assert sock is not None, "an event for a probe that has no socket"
        if not self.sent:
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self.finish(False, f"connect: {errno.errorcode.get(err, err)}")
                return
            self.sent = True
            if spec.kind == "tcp":
                self.finish(True, "connect ok")
                return
            if spec.kind == "http":
                try:
                    sock.send(http_request(spec, self.srv.host))
                except OSError as e:
                    self.finish(False, f"send: {e.strerror}")
                    return
            self.checker.bal.reactor.set_mask(self.fd, EPOLLIN)
            return
        try:
            chunk = sock.recv(MAX_REPLY)
        except BlockingIOError:
            return
        except OSError as e:
            self.finish(False, f"recv: {e.strerror}")
            return
        self.reply += chunk
        complete = not chunk or b"\n" in self.reply or len(self.reply) >= MAX_REPLY
        if not complete:
            return
        if spec.kind == "http":
            ok, what = http_verdict(spec, self.reply)
            self.finish(ok, what)
        else:
            reply = agent_verdict(self.reply)
            self.checker.bal.dispatcher.agent_state(self.srv, reply.weight_percent, reply.state)
            self.finish(reply.state != "down" and bool(self.reply.strip()),
                        f"agent: {self.reply.strip()[:40].decode('ascii', 'replace')}")

    def finish(self, ok: bool, what: str) -> None:
        if self.done:
            return
        self.cancel()
        self.checker.result(self.srv, ok, what)

    def cancel(self) -> None:
        self.done = True
        if self.timer is not None:
            self.timer.cancel()
        if self.sock is not None:
            self.checker.bal.reactor.remove(self.fd)
            self.sock.close()
            self.sock = None


class HealthChecker:
    """Probes on the loop.  At start-up pen accepts no client until every checked server's
    first probe has finished (`holding`, bounded by the check timeout), so the first clients
    are not sent to a server nobody has seen answer, nor refused for want of a proven one."""

    def __init__(self, bal: Balancer) -> None:
        self.bal = bal
        self.next_due: dict[int, float] = {}      # id(server) -> when
        self.running: dict[int, Probe] = {}
        self.starting = True                      # the start-up probes have not all finished
        bal.reactor.every(TICK, self.tick)

    def start(self) -> None:
        """Start-up: probe every checked server now; accepting waits for the results."""
        self.tick()
        self._started()

    def holding(self) -> bool:
        return self.starting

    def _started(self) -> None:
        if self.starting and not any(not (s.health is not None and s.health.proven)
                                     for s in self._checked() if s.configured):
            self.starting = False
            self.bal.resume_accept()

    def tick(self) -> None:
        if self.starting:
            self.bal.reactor.call_later(0, self._started)
        now = self.bal.reactor.now
        for srv in self._checked():
            key = id(srv)
            if key in self.running:
                continue
            due = self.next_due.get(key)
            if due is None:
                due = self.next_due[key] = now          # a new check runs at once
            spec = srv.check
            if now >= due and srv.configured and spec is not None:
                self.next_due[key] = now + spec.interval
                self.bal.dispatcher.start_checking(srv)
                probe = Probe(self, srv, spec)
                self.running[key] = probe
                probe.start()

    def _checked(self) -> list[Server]:
        st = self.bal.state.servers
        out = [s for s in st.servers if s.check is not None]
        for special in (st.emergency, st.abuse):
            if special is not None and special.check is not None:
                out.append(special)
        return out

    def result(self, srv: Server, ok: bool, what: str) -> None:
        self.running.pop(id(srv), None)
        self.record(srv, ok, what)
        if self.starting:
            self._started()

    def client_connect_timeout(self, srv: Server) -> None:
        """A client's connect to a checked server timed out: that is a failed probe too."""
        self.record(srv, False, "client connect timeout")

    def record(self, srv: Server, ok: bool, what: str) -> None:
        changed = self.bal.dispatcher.health_result(srv, ok, what, self.bal.reactor.now)
        if changed is True and srv.health is not None and srv.health.checks == 1:
            log.info("server %d (%s:%d) passed its first check (%s)", srv.index, srv.host,
                     srv.port, what)
        elif changed is True:
            log.warning("server %d (%s:%d) is UP (%s)", srv.index, srv.host, srv.port, what)
        elif changed is False:
            log.warning("server %d (%s:%d) is DOWN (%s)", srv.index, srv.host, srv.port, what)

    def forget(self, srv: Server) -> None:
        """The check was removed or changed: start over."""
        self.next_due.pop(id(srv), None)
        probe = self.running.pop(id(srv), None)
        if probe is not None:
            probe.cancel()
