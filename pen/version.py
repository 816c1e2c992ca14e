"""The one version of pen-ha: the installed distribution's, read with importlib.metadata
(pyproject.toml is the only place it is written), and the `--version` option every program
shares, GNU style: `NAME (pen-ha) VERSION` on the first line.

The version is read when first asked for (`VERSION`, `pen.__version__`, `--version`), not at
import, and from the dist-info directory directly: importlib.metadata's own imports cost
about 20 ms of pen's start-up (issue 16).
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import cache
from typing import Any

DISTRIBUTION = "pen-ha"
C_PEN_VERSION = "0.34.1"     # the C suite whose command lines ours follow


@cache
def installed_version() -> str:
    """The version pip installed; a source tree that was never installed says so.  The
    dist-info directory is looked up on sys.path as importlib.metadata does (first match in
    path order), without its imports; importlib.metadata itself for anything else (eggs,
    zip files)."""
    prefix = DISTRIBUTION.replace("-", "_") + "-"
    for entry in sys.path:
        try:
            names = sorted(os.listdir(entry or "."))
        except OSError:
            continue
        for name in names:
            if name.startswith(prefix) and name.endswith(".dist-info"):
                version = _metadata_version(os.path.join(entry or ".", name, "METADATA"))
                if version:
                    return version
    from importlib import metadata
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "0+unknown"


def _metadata_version(path: str) -> str:
    """The `Version:` header of a METADATA file ('' if unreadable)."""
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    break                       # the headers end at the first blank line
                if line.startswith("Version:"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def __getattr__(name: str) -> str:
    """`VERSION`, read on first use (PEP 562)."""
    if name == "VERSION":
        return installed_version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def version_line(program: str) -> str:
    return f"{program} (pen-ha) {installed_version()}"


def version_option(program: str, *more_lines: str) -> Callable[[Any], Any]:
    """--version, printing `version_line(program)` and then `more_lines` (click's own
    version_option wants the version when the command is defined, at import).  click is
    imported here, not by this module: pen's own start-up does without it (pen.cliopts)."""
    import click

    def show(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
        if not value or ctx.resilient_parsing:
            return
        click.echo("\n".join((version_line(program),) + more_lines))
        ctx.exit()
    return click.option("--version", is_flag=True, expose_value=False, is_eager=True,
                        callback=show, help="Print the program's version and exit.")
