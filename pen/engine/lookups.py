"""Name lookups off the event loop.

A host name in `server N address HOST`, from the control port or from the -F file re-read on
SIGHUP, is looked up in a daemon thread (a slow DNS server must not stop the traffic, and a
lookup that hangs cannot hold pen's exit); the thread's end wakes the reactor through a pipe
and the line then runs with the address found, so the main process and every worker apply
the same address without a lookup of their own (docs/configuration.md "SIGHUP").
"""
from __future__ import annotations

import ipaddress
import os
import threading
from concurrent.futures import Future
from typing import Callable, TypeVar

from pen.core.addr import AddressError, Endpoint
from pen.engine.reactor import EPOLLIN, Reactor
from pen.resolve import resolve_endpoint

T = TypeVar("T")

LookupResult = dict[str, "str | Exception"]    # host name -> its address text, or why not


def in_thread(reactor: Reactor, work: Callable[[], T], then: Callable[[Future[T]], None]) -> Future[T]:
    """Run `work` in a daemon thread; call `then` with its future on the loop once it ends."""
    future: Future[T] = Future()
    rfd, wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def woken(ev: int) -> None:
        reactor.remove(rfd)
        os.close(rfd)
        then(future)

    def run() -> None:
        try:
            future.set_result(work())
        except Exception as e:                 # handed to `then` through the future
            future.set_exception(e)
        finally:
            try:
                os.write(wfd, b"!")
            finally:
                os.close(wfd)

    reactor.add(rfd, EPOLLIN, woken)
    threading.Thread(target=run, name="pen-resolve", daemon=True).start()
    return future


def lookup_target(words: list[str]) -> int | None:
    """Where HOST stands in `server N ... address HOST ...` when it is a name to look up (not
    an IP literal, not a unix path); None otherwise."""
    if len(words) < 4 or words[0] != "server":
        return None
    head = words[:words.index("check")] if "check" in words else words   # check takes the rest
    try:
        at = head.index("address", 2) + 1
    except ValueError:
        return None
    if at >= len(head) or "/" in head[at]:
        return None
    try:
        ipaddress.ip_address(head[at].split("%", 1)[0])
    except ValueError:
        return at
    return None


def address_of(host: str, udp: bool) -> str:
    """The address text `host` resolves to, as the interpreter's own lookup would find it."""
    return resolve_endpoint(Endpoint(host, "1"), udp=udp)[1]


def look_up_names(hosts: list[str], udp: bool) -> LookupResult:
    """Every name's address, or the error that stands for it (run in the resolver thread)."""
    found: LookupResult = {}
    for host in hosts:
        try:
            found[host] = address_of(host, udp)
        except (AddressError, OSError, UnicodeError) as e:
            found[host] = e
    return found
