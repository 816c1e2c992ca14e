"""The unit files' contract with the programs (systemd-analyze verify runs in
tests/netns/lab/test_deploy_files.py): names of the activated sockets, notify types."""
from __future__ import annotations

import configparser
from pathlib import Path

UNITS = Path(__file__).resolve().parents[3] / "deploy" / "systemd"


def unit(name: str) -> configparser.ConfigParser:
    cp = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    cp.optionxform = str     # type: ignore[assignment,method-assign]
    cp.read(UNITS / name)
    return cp


def test_activated_sockets_are_named_as_pen_looks_them_up() -> None:
    for name, fd_name, service in (("pen.socket", "listen", "pen.service"),
                                   ("pen-control.socket", "control", "pen.service"),
                                   ("pen@.socket", "listen", "pen@%i.service")):
        sock = unit(name)["Socket"]
        assert sock["FileDescriptorName"] == fd_name and sock["Service"] == service, name


def test_listen_address_is_not_repeated_when_activated() -> None:
    """$PEN_LISTEN unbraced: an empty value is no argument, pen takes the `listen` socket."""
    for name in ("pen.service", "pen@.service"):
        start = unit(name)["Service"]["ExecStart"]
        assert start.endswith(" $PEN_LISTEN") and "${PEN_LISTEN}" not in start, name


def test_penlogd_reports_readiness() -> None:
    service = unit("penlogd.service")["Service"]
    assert (service["Type"], service["NotifyAccess"]) == ("notify", "main")
