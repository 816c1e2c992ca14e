"""pen.version: one version, the installed distribution's, read without importlib.metadata's
imports; `--version` GNU style, `NAME (pen-ha) VERSION` first (issue 19)."""
from __future__ import annotations

import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from pen import version


@pytest.fixture
def fresh_cache():
    version.installed_version.cache_clear()
    yield
    version.installed_version.cache_clear()


def test_the_metadata_version_header_is_read_up_to_the_first_blank_line(tmp_path: Path) -> None:
    meta = tmp_path / "METADATA"
    meta.write_text("Metadata-Version: 2.1\nName: pen-ha\nVersion: 1.2.3\n\nVersion: 9\n")
    assert version._metadata_version(str(meta)) == "1.2.3"
    meta.write_text("Name: pen-ha\n\nVersion: 9\n")        # only the body names one
    assert version._metadata_version(str(meta)) == ""
    assert version._metadata_version(str(tmp_path / "missing")) == ""


def test_the_first_dist_info_on_the_path_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               fresh_cache: None) -> None:
    for where, v in (("a", "7.0"), ("b", "8.0")):
        d = tmp_path / where / "pen_ha-x.dist-info"
        d.mkdir(parents=True)
        (d / "METADATA").write_text(f"Name: pen-ha\nVersion: {v}\n")
    monkeypatch.setattr(sys, "path", [str(tmp_path / "nowhere"), str(tmp_path / "a"), str(tmp_path / "b")])
    assert version.installed_version() == "7.0"
    assert version.VERSION == "7.0"
    assert version.version_line("penctl") == "penctl (pen-ha) 7.0"


def test_version_option_prints_the_line_and_more_and_exits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(version, "installed_version", lambda: "3.1")

    @click.command()
    @version.version_option("pen", "compatible with pen 0.34.1")
    def cmd() -> None:
        raise AssertionError("--version must not run the command")

    out = CliRunner().invoke(cmd, ["--version"])
    assert (out.exit_code, out.output) == (0, "pen (pen-ha) 3.1\ncompatible with pen 0.34.1\n")


def test_an_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        version.NOT_A_THING  # noqa: B018
