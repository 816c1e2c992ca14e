"""pen.cli: numeric options read as C pen 0.34.1 reads them (atoi; -c/-x only grow)."""
from __future__ import annotations

import pytest

from pen import cli


def settings(*argv: str):
    ctx = cli.command.make_context("pen", [*argv, "127.0.0.1:1", "127.0.0.1:2"])
    params = dict(ctx.params)
    return cli.build_settings(params.pop("args"), params)


@pytest.mark.parametrize("argv, attr, value", [
    (["-c", "0"], "clients_max", 2048), (["-c", "x"], "clients_max", 2048),
    (["-c", "-5"], "clients_max", 2048), (["-c", "100", "-c", "50"], "clients_max", 100),
    (["-x", "0"], "conn_max", 500), (["-x", "600", "-x", "550"], "conn_max", 600),
    (["-b", "x"], "blacklist", 0), (["-b", "5x"], "blacklist", 5), (["-b", "-1"], "blacklist", 0),
    (["-T", " 7"], "tracking", 7), (["-t", "5x"], "timeout", 5), (["-m", "x"], "multi_accept", 1),
    (["-q", "x"], "backlog", 50),
])
def test_numbers_as_c_reads_them(argv, attr, value, capsys) -> None:
    assert getattr(settings(*argv), attr) == value


def test_text_that_is_not_a_number_is_named(capsys) -> None:
    settings("-b", "5x")
    assert "-b '5x' is not a number; read as 5" in capsys.readouterr().err
    settings("-b", "12")
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("argv", [["-t", "0"], ["-t", "x"], ["-x", "-1"], ["-c", "99999999999"],
                                  ["-x", "2000000"]])
def test_refused(argv) -> None:
    with pytest.raises(cli.OptionError):
        settings(*argv)
