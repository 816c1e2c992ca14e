"""Start-up commands (-o/-O, -F), SIGHUP and SIGUSR1, and the control port
(docs/configuration.md, docs/pen.md "Signals").

Order (pen/engine/daemon.py): command-line servers first, then -o/-O, then the -F file, so the
file refines the command line.  C pen applied the file first and then overwrote its `server`
lines with the command line (docs/configuration.md "Start-up order"); here the file wins at
start-up as it does on SIGHUP.

A bad -o command or -F line is fatal at start-up (the message names the file and line).  On
SIGHUP the file is first applied to a copy of the configuration; only if every line is good is
it applied for real, so a broken file leaves the running configuration untouched.
"""
from __future__ import annotations

import copy
import logging
import socket

from pen.core import stats
from pen.core.formats import configfile
from pen.core.addr import AddressError, parse_listen
from pen.core.control import CommandError, Interpreter
from pen.core.noeffects import NoEffects
from pen.core.state import PenState
from pen.engine.balancer import Balancer
from pen.engine.control_server import EngineEffects, interpreter_for
from pen.engine.control_server import open_control as _open_control
from pen.resolve import resolve_endpoint

log = logging.getLogger("pen")
statslog = logging.getLogger("pen.stats")
statslog.setLevel(logging.INFO)       # USR1 statistics are shown at every debug level, as C pen
reloadlog = logging.getLogger("pen.reload")
reloadlog.setLevel(logging.INFO)      # a successful HUP says so at every debug level


class ConfigError(Exception):
    """A bad -o/-O command or -F line: names the file, the line and the problem."""


def run_startup_commands(bal: Balancer, commands: list[str], config_file: str | None) -> None:
    interp = interpreter_for(bal)
    interp.running = False
    for command in commands:
        reply = interp.run(command)
        interp.fx.output(reply.text)
        if reply.error:
            raise ConfigError(f"-o '{command}': {reply.error}")
    if config_file:
        lines = load_file(interp, config_file)
        apply_lines(interp, lines)
    interp.running = True


def load_file(interp: Interpreter, path: str) -> list[configfile.Line]:
    try:
        return configfile.load(path, interp.read_confined)     # issue 10: includes confined
    except (configfile.ConfigFileError, CommandError) as e:
        raise ConfigError(str(e)) from None


def apply_lines(interp: Interpreter, lines: list[configfile.Line]) -> None:
    """Run the lines in order; stop at the first bad one and say where it is."""
    for line in lines:
        reply = interp.run(line.text)
        if reply.text:
            interp.fx.output(reply.text)
        if reply.error:
            raise ConfigError(f"{line.where()}: {reply.error}")


def dry_effects(bal: Balancer, trial: PenState) -> NoEffects:
    """Effects for a trial run against a copy of the state: names are resolved and listen
    addresses checked for real (a line naming an unknown host is a bad line), -F includes are
    read, but nothing is opened, closed or written (pen.core.noeffects)."""
    real = EngineEffects(bal)

    def check_listen(text: str) -> None:
        ep = parse_listen(text)
        if not ep.unix:
            resolve_endpoint(ep, udp=trial.settings.udp, passive=True)

    return NoEffects(trial, listen=bal.listen_text, now=real.now(), wall=real.wall_time(),
                     pid=real.pid(), resolve=real.resolve, check_listen=check_listen,
                     read_file=real.read_file)


def trial_state(state: PenState) -> PenState:
    """A copy of everything a command can change (the client table starts empty)."""
    trial = PenState(copy.deepcopy(state.settings))
    trial.servers = copy.deepcopy(state.servers)
    trial.acls = copy.deepcopy(state.acls)
    return trial


def check_lines(bal: Balancer, lines: list[configfile.Line]) -> None:
    """Apply the lines to a copy; raise ConfigError naming the first bad one."""
    trial = trial_state(bal.state)
    interp = Interpreter(trial, dry_effects(bal, trial), running=True)
    apply_lines(interp, lines)


def reload_config(bal: Balancer) -> bool:
    """Re-read -F all or nothing; True when it was applied."""
    path = bal.state.settings.config_file
    if not path:
        return False
    interp = interpreter_for(bal)
    try:
        lines = load_file(interp, path)
        check_lines(bal, lines)
    except ConfigError as e:
        log.error("SIGHUP: %s; the running configuration stays in force", e)
        return False
    try:
        apply_lines(interp, lines)
    except ConfigError as e:      # only I/O can fail here (a port taken, a log unwritable)
        log.error("SIGHUP: %s; the lines before it were applied", e)
        return False
    reloadlog.info("SIGHUP: %s applied (%d commands)", path, len(lines))
    return True


def open_control(bal: Balancer, address: str, sock: socket.socket | None = None) -> None:
    try:
        _open_control(bal, address, sock)
    except socket.gaierror as e:
        raise AddressError(f"unknown or invalid address: {e.strerror}") from None


def on_sighup(bal: Balancer) -> None:
    """Reopen the file log, then re-read -F (docs/configuration.md "SIGHUP")."""
    bal.reopen_log()
    if not bal.state.settings.config_file:
        reloadlog.info("SIGHUP: log reopened (no -F file to re-read)")
        return
    reload_config(bal)


def on_usr1(bal: Balancer) -> None:
    """Statistics to the log channel, and the HTML page to the -w file if one is set
    (docs/pen.md "Signals")."""
    fx = interpreter_for(bal).fx
    snap = fx.snapshot()
    for record in stats.text(snap):
        statslog.info("%s", record)
    path = bal.state.settings.web_stats
    if path:
        try:
            fx.write_file(path, stats.html(snap))
        except OSError as e:
            log.error("SIGUSR1: cannot write %s: %s", path, e.strerror)
