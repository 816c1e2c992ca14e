"""mergelogs: merge pen's file log with the web servers' logs, offline (mergelogs(1)).

The I/O shell around `mergelogs.merge`: opens the files (gzip transparently), writes the
merged log to stdout, draws a progress bar (click.progressbar, with an ETA) over the bytes
read when stderr is a terminal.  See docs/mergelogs.md.
"""
from __future__ import annotations

import gzip
import io
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import click

from mergelogs.merge import Options, Stats, merge
from pen.version import version_option

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar

USAGE = """Usage: mergelogs -p penlog [-j jitter] \\
        server1:logfile1 [server2:logfile2 ...]

  -c                Do not use penlog cache
  -d                Debugging (repeat for more)
  -p penlog         Log file from pen
  -j jitter         Jitter in seconds [600]
  -t seconds        Timezone
  server:logfile    Web server address and name of logfile
"""
PROGRESS_EVERY = 0.25     # seconds between redraws


@dataclass(slots=True)
class Inputs:
    """Every file opened, so the progress bar can add up how far each has been read.  A file
    read more than once (pen's log under -c, rescanned for every web line) is not counted:
    its offset goes back and forth, and the bar would go round in circles."""

    raws: list[io.FileIO] = field(default_factory=list)
    total: int = 0

    def open_text(self, path: str, counted: bool = True) -> io.TextIOWrapper:
        """`path` as text, decompressed when it starts with gzip's magic bytes.

        latin-1 maps every byte to one character and back, so lines come out byte for byte.
        """
        raw = io.FileIO(path, "r")
        if counted:
            self.raws.append(raw)
            self.total += os.fstat(raw.fileno()).st_size
        head = os.pread(raw.fileno(), 2, 0)
        stream: io.RawIOBase | gzip.GzipFile = raw
        if head == b"\x1f\x8b":
            stream = gzip.GzipFile(fileobj=raw, mode="rb")
        buffered = io.BufferedReader(stream, 1 << 20)
        return io.TextIOWrapper(buffered, encoding="latin-1", newline="")

    def done(self) -> int:
        n = 0
        for raw in self.raws:
            try:
                n += raw.tell()
            except (ValueError, OSError):   # closed: read to the end
                n += 0
        return n


def split_server(arg: str) -> tuple[str, str]:
    """`server:logfile`, split at the first ':' as C does; `[v6addr]:logfile` also works."""
    if arg.startswith("[") and "]:" in arg:
        label, _, path = arg[1:].partition("]:")
        return label, path
    label, sep, path = arg.partition(":")
    if not sep:
        raise click.ClickException(f"Bogus server '{arg}': expected server:logfile")
    return label, path


def _mb(n: int) -> str:
    return f"{n / 1e6:,.0f} MB" if n >= 10_000_000 else f"{n / 1e3:,.0f} kB"


@dataclass(slots=True)
class Progress:
    """click's progress bar over the bytes read, redrawn every PROGRESS_EVERY seconds by a
    thread: the merge itself never waits for the terminal, and a slow stretch (one web line
    rescanning a big pen log under -c) still shows the clock and the ETA moving."""

    inputs: Inputs
    lines: int = 0
    started: float = field(default_factory=time.monotonic)
    stop: threading.Event = field(default_factory=threading.Event)

    def detail(self, _item: object = None) -> str:
        """Bytes, rate and the time taken so far: the tenths make every redraw a new line
        (click writes a line only when it changed)."""
        took = time.monotonic() - self.started
        rate = self.lines / max(1e-6, took)
        return (f"{_mb(self.inputs.done())}/{_mb(self.inputs.total)} {rate:,.0f} lines/s "
                f"{took:.1f} s")

    def run(self, bar: ProgressBar[int]) -> None:
        while not self.stop.wait(PROGRESS_EVERY):
            step = max(0, self.inputs.done() - bar.pos)
            if step:
                bar.update(step, current_item=0)
            else:               # no new bytes (files are read 8 kB at a time): redraw anyway
                bar.render_progress()


def _write(out: Iterator[str], sink: io.TextIOWrapper, inputs: Inputs, progress: bool) -> int:
    if not progress:
        lines = 0
        for line in out:
            sink.write(line)
            lines += 1
        return lines
    state = Progress(inputs)
    with click.progressbar(length=max(1, inputs.total), label="merging", file=sys.stderr,
                           show_eta=True, show_percent=True, item_show_func=state.detail,
                           width=30) as bar:
        ticker = threading.Thread(target=state.run, args=(bar,), daemon=True)
        ticker.start()
        try:
            for line in out:
                sink.write(line)
                state.lines += 1
        finally:
            state.stop.set()
            ticker.join()
        bar.update(max(0, inputs.total - bar.pos), current_item=0)
    return state.lines


@click.command(context_settings={"help_option_names": ["--help"]})
@click.option("-p", "penlog", metavar="PENLOG", help="Log file from pen (pen -l FILE).")
@click.option("-c", "nocache", is_flag=True, help="Do not use the penlog cache (rescan pen's log for every line).")
@click.option("-d", "debug", count=True, help="Debugging (repeat for more): statistics on stderr.")
@click.option("-j", "jitter", type=int, default=600, show_default=True,
              help="Seconds around a web line's time searched in pen's log.")
@click.option("-t", "tz", type=int, default=0, help="Seconds subtracted from pen's timestamps.")
@click.option("-a", "ignored", hidden=True, help="Accepted and ignored, as in C.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on stderr (default: only when stderr is a terminal).")
@version_option("mergelogs")
@click.argument("servers", nargs=-1)
def main(penlog: str | None, nocache: bool, debug: int, jitter: int, tz: int,
         ignored: str | None, progress: bool | None, servers: tuple[str, ...]) -> None:
    """Merge pen's log with web server logs: SERVER:LOGFILE ...  (gzip files are read too).

    Writes each web server line, oldest first, with the balancer's address replaced by the
    real client's.
    """
    if not servers:
        click.echo(USAGE, nl=False)
        sys.exit(0)
    if penlog is None:
        raise click.ClickException("no pen log given (-p PENLOG)")
    pairs = [split_server(a) for a in servers]
    inputs = Inputs()
    try:
        pen_file = inputs.open_text(penlog, counted=not nocache)
    except OSError as err:
        raise click.ClickException(f"cannot read pen log '{penlog}': {err.strerror}") from None
    web = []
    for label, path in pairs:
        try:
            web.append((label, inputs.open_text(path)))
        except OSError as err:
            raise click.ClickException(f"Can't open logfile '{path}': {err.strerror}") from None
    opts = Options(jitter=jitter, tz=tz, cache=not nocache)
    first = [True]

    def pen_lines() -> io.TextIOWrapper:
        if first[0]:
            first[0] = False
            return pen_file
        pen_file.seek(0)
        return pen_file

    stats = Stats()
    sink = io.TextIOWrapper(sys.stdout.buffer, encoding="latin-1", newline="",
                            write_through=False)
    if progress is None:
        progress = sys.stderr.isatty()
    try:
        _write(merge(pen_lines, web, opts, stats), sink, inputs, progress)
        sink.flush()
    except BrokenPipeError:
        sys.stderr.close()
        os._exit(0)
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise click.ClickException(f"reading the logs failed: {err}") from None
    if stats.unparsed:
        click.echo(f"mergelogs: {stats.unparsed} line(s) could not be parsed and were passed"
                   " through unchanged", err=True)
    if stats.bogus_pen:
        click.echo(f"mergelogs: {stats.bogus_pen} pen log line(s) could not be parsed and were"
                   " skipped", err=True)
    if debug:
        click.echo(f"mergelogs: {stats.web_lines} web lines: {stats.matched_conn} matched by"
                   f" connection, {stats.matched_request} by request, {stats.unmatched}"
                   f" unmatched; {stats.bogus_pen} bogus pen lines", err=True)
