"""Health probes for tracked objects: the local pen and scripts.

pen: one command per connection, a reply, then close (C pen's control protocol).  The
probe asks `serving` and fails while pen can use no server (docs/penctl.md); a C pen, which
does not know the command, is asked `pid` instead (alive is all it can tell).  `listen`
checks that pen's listening socket exists, from the kernel's table, never by connecting
(penvrrp.core.penprobe says why).  Scripts: exit status 0 within the timeout (keepalived
vrrp_script).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket

from penvrrp.core import penprobe
from penvrrp.core.penprobe import AddressError, is_unknown_command, listening, parse_count, split_address
from penvrrp.core.tracking import parse_pid_reply

PROC_TCP = ("/proc/net/tcp", "/proc/net/tcp6")


async def _open(target: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    if "/" in target:
        return await asyncio.open_unix_connection(target)
    host, port = split_address(target)
    return await asyncio.open_connection(host, port)


async def ask_pen(control: str, command: str) -> bytes:
    reader, writer = await _open(control)
    try:
        writer.write(command.encode() + b"\n")
        await writer.drain()
        chunks: list[bytes] = []
        while len(chunks) < 64:
            data = await reader.read(4096)
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks)
    finally:
        writer.close()


def _listeners() -> list[tuple[str, int]]:
    """The kernel's TCP listeners, IPv4 and IPv6, through sock_diag (a few sockets, at once)."""
    out: list[tuple[str, int]] = []
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, penprobe.NETLINK_SOCK_DIAG) as s:
        s.settimeout(1.0)
        for seq, family in enumerate((socket.AF_INET, socket.AF_INET6), 1):
            s.send(penprobe.diag_request(family, seq))
            done = False
            while not done:
                found, done = penprobe.parse_diag(s.recv(65536))
                out += found
    return out


def _listening(listen: str) -> bool:
    host, port = split_address(listen)
    try:
        return penprobe.listens_on(_listeners(), host, port)
    except OSError:
        pass                                  # no sock_diag (a container without it): proc(5)
    tables = []
    for path in PROC_TCP:
        try:
            with open(path) as fh:
                tables.append(fh.read())
        except OSError:
            pass
    return listening(tables, host, port)


async def probe_pen(control: str, listen: str | None, timeout: float) -> tuple[bool, str]:
    """(ok, why) for one check of the local pen."""
    try:
        async with asyncio.timeout(timeout):
            reply = await ask_pen(control, "serving")
            count = parse_count(reply)
            if count is None and is_unknown_command(reply):
                pid = parse_pid_reply(await ask_pen(control, "pid"))
                if pid is None:
                    return False, f"control port {control} answered no pid"
                why = f"pen pid {pid} (no `serving` command: liveness only)"
            elif count is None:
                return False, f"control port {control} answered {reply[:40]!r}, not a server count"
            elif count == 0:
                return False, "pen can use no server"
            else:
                why = f"pen can use {count} server{'s' if count > 1 else ''}"
            if listen and not _listening(listen):
                return False, f"nothing listens on {listen}"
            return True, why
    except TimeoutError:
        return False, f"pen did not answer within {timeout:g} s"
    except (OSError, AddressError) as exc:
        return False, f"pen unreachable: {exc}"


async def pen_pid(control: str, timeout: float) -> int | None:
    """pen's process id from its control port, or None."""
    try:
        async with asyncio.timeout(timeout):
            return parse_pid_reply(await ask_pen(control, "pid"))
    except (TimeoutError, OSError, AddressError):
        return None


async def retry_servers(control: str, timeout: float) -> str:
    """Tell pen to forget its blacklistings (after our link came back); the reply, or why not."""
    try:
        async with asyncio.timeout(timeout):
            return (await ask_pen(control, "retry_servers")).decode("ascii", "replace").strip()
    except (TimeoutError, OSError, AddressError) as exc:
        return f"failed: {exc or type(exc).__name__}"


async def probe_script(command: str, timeout: float) -> tuple[bool, str]:
    """Run a shell command; success is exit status 0 before the timeout."""
    proc = await asyncio.create_subprocess_shell(
        command, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL, start_new_session=True)
    try:
        async with asyncio.timeout(timeout):
            rc = await proc.wait()
    except TimeoutError:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        await proc.wait()
        return False, f"timed out after {timeout:g} s"
    return rc == 0, f"exit status {rc}"
