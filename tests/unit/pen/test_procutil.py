"""The journald form of the daemons' log: `<N>` priorities, no timestamp (sd-daemon(3))."""
from __future__ import annotations

import logging

from pen.procutil import JournalFormatter, journal_stream, syslog_priority


def test_levels_map_to_syslog_priorities() -> None:
    assert [syslog_priority(level) for level in (logging.DEBUG, logging.INFO, logging.WARNING,
                                                  logging.ERROR, logging.CRITICAL)] == [7, 6, 4, 3, 2]
    assert syslog_priority(5) == 7 and syslog_priority(logging.WARNING + 1) == 4


def test_formatter_prefixes_every_line_and_adds_no_time() -> None:
    fmt = JournalFormatter("%(message)s")
    rec = logging.LogRecord("pen", logging.ERROR, __file__, 1, "bad\nsecond line", (), None)
    assert fmt.format(rec) == "<3>bad\n<3>second line"


def test_journal_stream_must_name_this_device_and_inode() -> None:
    assert journal_stream("8:1234", 8, 1234)
    assert not journal_stream("8:1234", 8, 1235)
    assert not journal_stream("8:1234", 9, 1234)
    assert not journal_stream(None, 8, 1234) and not journal_stream("", 0, 0)
    assert not journal_stream("garbage", 8, 1234)
