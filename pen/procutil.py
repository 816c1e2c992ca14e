"""What every pen-ha daemon does the same way: detach, drop privileges, and log to stderr, the
journal or syslog.

Shared by pen, penlogd and penvrrp.
"""
from __future__ import annotations

import logging
import os
import sys


def daemonize(keep_stdout: bool = False, keep_cwd: bool = True) -> None:
    """Detach: fork, setsid, fork, stdio to /dev/null.  With `keep_stdout` stdout stays as it
    is (penlogd's merged log may be its stdout).  The working directory stays where the
    program was started, as Debian's C pen and penlogd 0.34.1 keep it (they fork and setsid,
    no chdir), so a relative `penctl write FILE` lands where it did (docs/compatibility.md);
    `keep_cwd=False` changes to / (penvrrp)."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    if not keep_cwd:
        os.chdir("/")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 2) if keep_stdout else (0, 1, 2):
        os.dup2(devnull, fd)
    if devnull > 2:
        os.close(devnull)


#: logging level -> syslog priority (syslog(3), RFC 5424 §6.2.1), as sd-daemon(3) prefixes want
PRIORITIES = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))


def syslog_priority(level: int) -> int:
    for floor, priority in PRIORITIES:
        if level >= floor:
            return priority
    return 7


class JournalFormatter(logging.Formatter):
    """`<N>message`: journald reads N as the priority and stamps the time itself
    (sd-daemon(3)), so no timestamp of our own.  Continuation lines get the prefix too."""

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{syslog_priority(record.levelno)}>"
        return "\n".join(prefix + line for line in super().format(record).split("\n"))


def journal_stream(value: str | None, st_dev: int, st_ino: int) -> bool:
    """Whether $JOURNAL_STREAM (`DEVICE:INODE`, systemd.exec(5)) names this stream."""
    dev, sep, ino = (value or "").partition(":")
    return bool(sep) and dev == str(st_dev) and ino == str(st_ino)


def stderr_is_journal() -> bool:
    try:
        st = os.fstat(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return journal_stream(os.environ.get("JOURNAL_STREAM"), st.st_dev, st.st_ino)
def become_user(uid: int, gid: int) -> None:
    """`-u USER`: drop root for good, supplementary groups first (root's groups, e.g. 0 and
    `adm`, would otherwise stay), then the group, then the user (the order setuid(2) needs)."""
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)


def log_handler(program: str, foreground: bool) -> logging.Handler:
    """stderr in the foreground: with `<N>` priority prefixes and no timestamp when systemd
    connected it to the journal, with timestamps otherwise; syslog (when there is one) when
    detached."""
    handler: logging.Handler
    if foreground and stderr_is_journal():
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JournalFormatter("%(message)s"))
        return handler
    if not foreground and os.path.exists("/dev/log"):
        from logging.handlers import SysLogHandler   # only when detached (start-up time)
        try:
            handler = SysLogHandler(address="/dev/log")
            handler.setFormatter(logging.Formatter(f"{program}[%(process)d]: %(message)s"))
            return handler
        except OSError:
            pass
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s: %(message)s", "%Y-%m-%d %H:%M:%S")
                         if program == "pen" else
                         logging.Formatter(f"%(asctime)s {program}[%(process)d]: %(message)s"))
    return handler
