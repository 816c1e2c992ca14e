"""pen.cliopts: the fast reading of pen's command line gives exactly what click's gives, and
leaves to click every command line it must report or explain (pen(1) OPTIONS)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from pen import cli, cliopts

SERVERS = ["127.0.0.1:8080", "127.0.0.1:81", "[::1]:82"]


def by_click(argv: list[str]) -> tuple[tuple[str, ...], dict[str, object]]:
    params = dict(cli.command.make_context("pen", list(argv)).params)
    return tuple(params.pop("args")), params


@pytest.mark.parametrize("argv", [
    SERVERS,
    ["-f", "-r", *SERVERS],
    ["-frdd", "-d", *SERVERS],                       # clustered flags, a count
    ["-c100", "-c", "50", "-x", "600", *SERVERS],    # attached and separate values, repeated
    ["-b", "-1", "-T", " 7", "-t", "5x", *SERVERS],  # values that look like options
    [*SERVERS[:1], "-H", SERVERS[1], "-o", "mode", "-O", "blacklist 20", "-h"],   # permuted
    ["-C", "127.0.0.1:10080", "-F", "/etc/pen.cfg", "-w", "/tmp/w.html", "-l", "/tmp/log", *SERVERS],
    ["--workers", "2", "--workers=auto", *SERVERS],
    ["--tls-handshake-timeout", "2.5", "--takeover", "/run/pen.ctl", *SERVERS],
    ["--confine", "/a", "--confine=/b", "--peer", "192.0.2.2:7070", "--peer-listen", "7070",
     "--peer-key", "/k", *SERVERS],
    ["-D", "-n", "-Q", "-S", "9", "-P", "-a", "-U", "-W", "-X", "-Z", "-s", "-R", *SERVERS],
    ["-E", "c.pem", "-K", "k.pem", "-G", "ca.pem", "-A", "/ca", "-L", "tls1", "-j", "/jail",
     "-u", "nobody", "-p", "/run/pen.pid", "-e", "127.0.0.1:9", "-B", "127.0.0.1:10", "-m", "5",
     "-q", "100", *SERVERS],
    ["-f", "--", "-1", "x"],                         # after --, everything is an argument
    ["-i", "svc", *SERVERS],                         # read, then refused by build_settings
])
def test_the_fast_reading_is_clicks(argv: list[str]) -> None:
    assert cliopts.parse_fast(argv) == by_click(argv)


@pytest.mark.parametrize("argv", [
    ["--help"], ["--version"], ["-k", *SERVERS], ["--work", "2", *SERVERS],   # no prefixes
    ["--bogus", *SERVERS], ["-c"], ["--workers", "x", *SERVERS],
    ["--tls-handshake-timeout", "0", *SERVERS], ["--tls-handshake-timeout", "x", *SERVERS],
])
def test_click_reads_what_must_be_explained(argv: list[str]) -> None:
    assert cliopts.parse_fast(argv) is None


def test_posixly_correct_goes_to_click(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSIXLY_CORRECT", "1")
    assert cliopts.parse_fast(["-f", *SERVERS]) is None


def test_a_running_pen_never_imports_click() -> None:
    """Start-up without click's ~20 ms (issue 16); --help still has it."""
    probe = ("import sys; sys.argv = ['pen', '-f', '127.0.0.1:8080', '127.0.0.1:1'];"
             "import pen.cli as c; c._run = lambda s: print('click' in sys.modules, s.foreground) or sys.exit(0);"
             "c.main()")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=30)
    assert out.stdout == "False True\n", out.stderr


def test_a_refused_line_is_reported_by_click_once(capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """build_settings' notes are printed once, by whichever reading runs the command."""
    monkeypatch.setattr(sys, "argv", ["pen", "-b", "5x", "-t", "0", *SERVERS])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert err.count("-b '5x' is not a number") == 1
    assert "Error: -t 0: the connect timeout must be at least 1" in err
