"""Pooled pipes for os.splice: bulk data moves socket -> pipe -> socket inside the kernel.

bench/PROFILE.md (item 7): splice through 1 MiB pipes moved bulk data at 1.68x C pen with the least
CPU per MiB, where copying through Python buffers reached about 1.5x.  A pipe holds what the
destination could not take yet, so it is also the direction's back-pressure buffer.  Pipes go
back to the pool only when empty.
"""
from __future__ import annotations

import fcntl
import os

F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
PIPE_SIZE = 1 << 20
POOL_MAX = 64
FLAGS = os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK

_pool: list[tuple[int, int]] = []
_size = PIPE_SIZE


def get() -> tuple[int, int] | None:
    """A pipe (read end, write end), or None when no descriptor is left (copy instead)."""
    global _size
    if _pool:
        return _pool.pop()
    try:
        r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.fcntl(w, F_SETPIPE_SZ, _size)
    except OSError:
        _size = 65536            # over /proc/sys/fs/pipe-max-size for an unprivileged user
    return r, w


def put(pipe: tuple[int, int], empty: bool) -> None:
    if empty and len(_pool) < POOL_MAX:
        _pool.append(pipe)
    else:
        os.close(pipe[0])
        os.close(pipe[1])


def capacity() -> int:
    return _size
