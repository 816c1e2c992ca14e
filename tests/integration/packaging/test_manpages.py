"""Man pages: made from the click commands (pen.manpages), committed under man/, rendered by
man and groff without a warning, and listing every option --help lists."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from pen.manpages import PROGRAMS, load, render

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
needs_groff = pytest.mark.skipif(not shutil.which("groff") or not shutil.which("man"),
                                 reason="groff and man-db (scripts/debian-packages.txt)")


@pytest.mark.parametrize("program", PROGRAMS)
def test_committed_page_is_what_the_command_says(program: str) -> None:
    page = ROOT / "man" / f"{program}.1"
    assert page.exists() and page.read_text() == render(program), (
        f"man/{program}.1 is stale: run `.venv/bin/python -m pen.manpages man` and commit it")


@needs_groff
@pytest.mark.parametrize("program", PROGRAMS)
def test_page_renders_without_warnings_and_lists_every_option(program: str) -> None:
    page = ROOT / "man" / f"{program}.1"
    groff = subprocess.run(["groff", "-ww", "-man", "-Tutf8", "-z", str(page)],
                           capture_output=True, text=True, timeout=30)
    assert groff.returncode == 0 and groff.stderr == "", groff.stderr
    env = dict(os.environ, MANWIDTH="100", LC_ALL="C.UTF-8")
    man = subprocess.run(["man", "-l", "-P", "cat", str(page)], capture_output=True, text=True,
                         timeout=30, env=env)
    assert man.returncode == 0 and man.stderr == "", man.stderr
    text = re.sub(".\b", "", man.stdout)            # overstrike bold and underline
    text = text.replace("\u2010", "-").replace("\u2212", "-")
    command = load(program)
    ctx = click.Context(command, info_name=program)
    for param in command.get_params(ctx):
        if isinstance(param, click.Option) and not param.hidden:
            for name in param.opts:
                assert name in text, f"{program}.1 lacks {name}"
    help_text = subprocess.run([str(BIN / program), "--help"], capture_output=True, text=True,
                               timeout=30).stdout
    first = " ".join((command.help or "").split()[:6])
    assert first in " ".join(help_text.split()) and first in " ".join(text.split())
