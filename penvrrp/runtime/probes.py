"""Health probes for tracked objects: the local pen and scripts.

pen: C pen's control protocol is one command per connection, a reply, then close
(spec/pen-0.34.md); ``pid`` must come back as a number.  Optionally a TCP connect to
pen's listen port must succeed too, because a pen whose listener died still answers
its control port.  Scripts: exit status 0 within the timeout (keepalived vrrp_script).
"""

from __future__ import annotations

import asyncio
import os
import signal

from penvrrp.core.tracking import parse_pid_reply


def split_address(text: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """[host:]port or [v6]:port, as C pen writes addresses."""
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
        return host, int(port)
    if text.count(":") == 1:
        host, port = text.split(":")
        return host or default_host, int(port)
    return default_host, int(text)


async def _open(target: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    if "/" in target:
        return await asyncio.open_unix_connection(target)
    host, port = split_address(target)
    return await asyncio.open_connection(host, port)


async def probe_pen(control: str, listen: str | None, timeout: float) -> tuple[bool, str]:
    """(ok, why) for one check of the local pen."""
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await _open(control)
            try:
                writer.write(b"pid\n")
                await writer.drain()
                reply = await reader.read(256)
            finally:
                writer.close()
            pid = parse_pid_reply(reply)
            if pid is None:
                return False, f"control port {control} answered {reply[:40]!r}, not a pid"
            if listen:
                _r, w = await _open(listen)
                w.close()
            return True, f"pen pid {pid}"
    except TimeoutError:
        return False, f"pen did not answer within {timeout:g} s"
    except (OSError, ValueError) as exc:
        return False, f"pen unreachable: {exc}"


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
