"""Start-up commands (-o/-O, -F), SIGHUP and SIGUSR1 handling, the control port.

Minimal version: the control-port work replaces it with the full penctl interpreter.
"""
from __future__ import annotations

import logging

from pen.engine.balancer import Balancer

log = logging.getLogger("pen")


class ConfigError(Exception):
    """A bad -o/-O command or -F line: names the file, the line and the problem."""


def run_startup_commands(bal: Balancer, commands: list[str], config_file: str | None) -> None:
    if commands or config_file:
        raise ConfigError("-o/-O and -F are not supported yet")


def open_control(bal: Balancer, address: str) -> None:
    raise ConfigError("the control port is not supported yet")


def on_sighup(bal: Balancer) -> None:
    bal.reopen_log()


def on_usr1(bal: Balancer) -> None:
    log.warning("statistics: %d connections", bal.nconns)
