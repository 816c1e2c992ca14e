"""What every pen-ha daemon does the same way: detach, and log to stderr or syslog.

Shared by pen, penlogd and penvrrp.
"""
from __future__ import annotations

import logging
import logging.handlers
import os
import sys


def daemonize(keep_stdout: bool = False) -> None:
    """Detach like daemon(0, 0): fork, setsid, fork, chdir /, stdio to /dev/null.  With
    `keep_stdout` stdout stays as it is (penlogd's merged log may be its stdout)."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    os.chdir("/")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 2) if keep_stdout else (0, 1, 2):
        os.dup2(devnull, fd)
    if devnull > 2:
        os.close(devnull)


def log_handler(program: str, foreground: bool) -> logging.Handler:
    """stderr with timestamps in the foreground; syslog (when there is one) otherwise."""
    if not foreground and os.path.exists("/dev/log"):
        try:
            handler: logging.Handler = logging.handlers.SysLogHandler(address="/dev/log")
            handler.setFormatter(logging.Formatter(f"{program}[%(process)d]: %(message)s"))
            return handler
        except OSError:
            pass
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s: %(message)s", "%Y-%m-%d %H:%M:%S")
                         if program == "pen" else
                         logging.Formatter(f"%(asctime)s {program}[%(process)d]: %(message)s"))
    return handler
