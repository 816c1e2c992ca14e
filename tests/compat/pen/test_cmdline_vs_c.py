"""C pen 0.34.1's command line, side by side: the values each option ends up with (issue 20).

C reads numbers with atoi, so `-c 0` and `-c x` leave the default and `-b 5x` is 5; `-c` and
`-x` only grow a table.  pen-ha runs the same command lines with the same values; where it
differs on purpose (docs/compatibility.md) the test says so.
"""
from __future__ import annotations

import subprocess

import pytest
from support.procs import C_PEN, PEN
from support.control import cmd, start_pen

pytestmark = [pytest.mark.compat,
              pytest.mark.skipif(not C_PEN.exists(), reason="Debian's pen is not installed")]

QUERIES = ("clients_max", "conn_max", "blacklist", "tracking", "timeout")
SAME = [["-c", "0"], ["-x", "0"], ["-c", "x"], ["-x", "x"], ["-b", "x"], ["-T", "x"],
        ["-b", "5x"], ["-t", "5x"], ["-T", "7s"], ["-c", "-5"], ["-c", "100", "-c", "50"],
        ["-c", "3000", "-c", "0"], ["-x", "600", "-x", "550"], ["-m", "x"], ["-q", "x"],
        ["-b", "12", "-b", "7"]]
# documented: a negative -b/-T acts as 0 in both; C echoes -1 in `blacklist`/`tracking`
NEGATIVE = [(["-b", "-1"], "blacklist", "-1\n", "0\n"), (["-T", "-1"], "tracking", "-1\n", "0\n")]


def values(tmp_path, exe, opts: list[str]) -> dict[str, str]:
    pen, path = start_pen(tmp_path, "127.0.0.1:9", opts=opts, exe=exe)
    try:
        return {q: cmd(path, q) for q in QUERIES}
    finally:
        pen.stop()


@pytest.mark.parametrize("opts", SAME, ids=" ".join)
def test_numeric_options_end_up_as_in_c_pen(tmp_path, opts) -> None:
    assert values(tmp_path, PEN, opts) == values(tmp_path, C_PEN, opts)


@pytest.mark.parametrize("opts,query,theirs,ours", NEGATIVE)
def test_negative_times_act_as_zero(tmp_path, opts, query, theirs, ours) -> None:
    assert values(tmp_path, C_PEN, opts)[query] == theirs
    assert values(tmp_path, PEN, opts)[query] == ours


def _run(exe, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(exe), "-f", *args], capture_output=True, text=True, timeout=10)


@pytest.mark.parametrize("opts", [["-t", "0"], ["-t", "x"], ["-x", "-5"]], ids=" ".join)
def test_values_c_pen_refuses_are_refused(tmp_path, opts) -> None:
    """C prints its usage (exit 0) for -t below 1 and fails to allocate a negative -x
    (exit 1); pen-ha refuses both with a message and exit 2 (docs/compatibility.md)."""
    theirs = _run(C_PEN, *opts, str(tmp_path / "c.sock"), "127.0.0.1:9")
    ours = _run(PEN, *opts, str(tmp_path / "o.sock"), "127.0.0.1:9")
    assert ("usage:" in theirs.stdout + theirs.stderr) or theirs.returncode == 1
    assert ours.returncode == 2 and f"{opts[0]} " in ours.stderr
