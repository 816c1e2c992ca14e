"""Where the request log goes: a file (-l FILE) or penlogd over UDP (-l host:port):
pen(1) -l.

Every line is written through at once (C pen buffered 4 KiB in stdio and lost it on a crash).
The file is opened O_APPEND so logrotate's copytruncate and `mv` + HUP both work.
"""
from __future__ import annotations

import logging
import os
import socket
from typing import Callable

from pen.core.formats import accesslog

log = logging.getLogger("pen")


def is_network_target(target: str) -> bool:
    """C pen's rule (pen(1) -l): a ':' and no leading '/' means host:port."""
    return ":" in target and not target.startswith("/")


class LogSink:
    def write(self, entry: accesslog.PenEntry) -> None:
        raise NotImplementedError

    def reopen(self) -> None:
        pass

    def close(self) -> None:
        pass


class FileSink(LogSink):
    """`ports()` says whether to add the connection's ports (penctl `log_ports`), so that
    mergelogs can match by connection; off, the lines are exactly C pen's."""

    def __init__(self, path: str, ports: Callable[[], bool] = lambda: False) -> None:
        self.path = path
        self.ports = ports
        self.fd = self._open()

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)

    def write(self, entry: accesslog.PenEntry) -> None:
        try:
            line = accesslog.file_line_conn(entry) if self.ports() else accesslog.file_line(entry)
            os.write(self.fd, line.encode("ascii", "replace"))
        except OSError as e:
            log.error("log %s: %s", self.path, e.strerror)

    def reopen(self) -> None:
        try:
            fd = self._open()
        except OSError as e:
            log.error("reopening log %s: %s; keeping the old file", self.path, e.strerror)
            return
        os.close(self.fd)
        self.fd = fd

    def close(self) -> None:
        os.close(self.fd)


class UdpSink(LogSink):
    def __init__(self, target: str) -> None:
        host, _, port = target.rpartition(":")
        host = host.strip("[]")
        infos = socket.getaddrinfo(host, int(port), 0, socket.SOCK_DGRAM)
        family, _, _, _, addr = infos[0]
        self.addr: tuple = addr
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.setblocking(False)

    def write(self, entry: accesslog.PenEntry) -> None:
        try:
            self.sock.sendto(accesslog.net_datagram(entry), self.addr)
        except OSError:
            pass      # fire and forget, as C pen: a full buffer or a dead penlogd loses a line

    def close(self) -> None:
        self.sock.close()


def open_logsink(target: str, ports: Callable[[], bool] = lambda: False) -> LogSink:
    if is_network_target(target):
        return UdpSink(target)
    return FileSink(target, ports)
