"""Man pages made from the click commands themselves (man-pages(7), groff_man(7)), so a page
says what `--help` says and cannot drift from it: the synopsis, description, every option
with its help and the epilog come from the command objects.

    python -m pen.manpages DIR     write pen.1, penctl.1, ... into DIR (the repository's man/)

The pages are committed under man/ and shipped in the wheel (share/man/man1); a test
regenerates them and fails on any difference.
"""
from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path

import click

from pen.version import VERSION

#: program -> (module:attribute of its click command, the one-line summary for NAME, SEE ALSO)
PROGRAMS: dict[str, tuple[str, str]] = {
    "pen": ("pen.cli:command", "load balancer for TCP and UDP services, compatible with pen 0.34.1"),
    "penctl": ("penctl.cli:command", "control a running pen through its control port"),
    "penlogd": ("penlogd.daemon:main", "merge pen's request log with the web servers' logs, live"),
    "penlog": ("penlogd.penlog:main", "send a web server's access log lines to penlogd"),
    "mergelogs": ("mergelogs.cli:main", "merge pen's log file with web server logs, offline"),
    "webstats": ("webstats.cli:command", "pen's live status page, JSON and Prometheus metrics"),
    "penvrrp": ("penvrrp.cli:main", "VRRP agent moving a virtual IP between pen nodes"),
}


def roff(text: str) -> str:
    """Text safe in a roff line: backslashes and hyphens escaped, no line starting a request."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join("\\&" + line if line.startswith((".", "'")) else line
                     for line in text.split("\n"))


def _paragraphs(text: str) -> list[str]:
    """click's help text: paragraphs separated by blank lines; `\\b` keeps a block as is."""
    out = []
    for block in inspect.cleandoc(text).split("\n\n"):
        if block.startswith("\b\n"):
            out.append(".PP\n.nf\n" + roff(block[2:]) + "\n.fi")
        elif block.strip():
            out.append(".PP\n" + roff(" ".join(block.split())))
    return out


def _records(command: click.Command, ctx: click.Context) -> list[tuple[str, str]]:
    """What --help lists under Options (arguments are in the synopsis)."""
    return [r for p in command.get_params(ctx) if isinstance(p, click.Option)
            and (r := p.get_help_record(ctx))]


def _option(record: tuple[str, str]) -> str:
    names, help_text = record
    return f".TP\n.B {roff(names)}\n{roff(help_text) if help_text else ''}".rstrip()


def load(program: str) -> click.Command:
    module, _, attr = PROGRAMS[program][0].partition(":")
    return getattr(importlib.import_module(module), attr)


def render(program: str) -> str:
    command = load(program)
    summary = PROGRAMS[program][1]
    ctx = click.Context(command, info_name=program)
    usage = " ".join(command.collect_usage_pieces(ctx))
    lines = [f'.TH {program.upper()} 1 "" "pen-ha {VERSION}" "pen-ha manual"',
             ".SH NAME", f"{program} \\- {roff(summary)}",
             ".SH SYNOPSIS", f".B {program}", roff(usage),
             ".SH DESCRIPTION", *_paragraphs(command.help or "")]
    records = _records(command, ctx)
    if records:
        lines += [".SH OPTIONS", *(_option(r) for r in records)]
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            sctx = click.Context(sub, info_name=name, parent=ctx)
            lines += [f".SH COMMAND: {name.upper()}", f".B {program} {name}",
                      roff(" ".join(sub.collect_usage_pieces(sctx))), *_paragraphs(sub.help or "")]
            lines += [_option(r) for r in _records(sub, sctx)]
    if command.epilog:
        lines += [".SH NOTES", *_paragraphs(command.epilog)]
    others = ", ".join(f"\\fB{p}\\fR(1)" for p in PROGRAMS if p != program)
    lines += [".SH SEE ALSO", others + ".",
              f"The pen-ha documentation, docs/{program}.md."]
    return "\n".join(lines) + "\n"


def write_all(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for program in PROGRAMS:
        path = directory / f"{program}.1"
        path.write_text(render(program), encoding="utf-8")
        paths.append(path)
    return paths


if __name__ == "__main__":
    for written in write_all(Path(sys.argv[1] if len(sys.argv) > 1 else "man")):
        print(written)
