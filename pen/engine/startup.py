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
import dataclasses
import logging
import socket
from concurrent.futures import Future
from typing import Callable

from pen.core import stats
from pen.core.addr import AddressError, parse_listen
from pen.core.balance.state import PenState
from pen.core.control import CommandError, Interpreter
from pen.core.formats import configfile
from pen.core.noeffects import NoEffects
from pen.engine.balancer import Balancer
from pen.engine.control_server import EngineEffects, interpreter_for
from pen.engine.control_server import open_control as _open_control
from pen.engine.lookups import LookupResult, in_thread, look_up_names, lookup_target
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
    """Re-read -F all or nothing, names looked up here; True when it was applied."""
    path = bal.state.settings.config_file
    if not path:
        return False
    try:
        lines = load_file(interpreter_for(bal), path)
    except ConfigError as e:
        return _refused(e)
    return reload_lines(bal, lines)


def reload_lines(bal: Balancer, lines: list[configfile.Line]) -> bool:
    """Apply the re-read lines if every one is good (checked on a copy first)."""
    try:
        check_lines(bal, lines)
    except ConfigError as e:
        return _refused(e)
    try:
        apply_lines(interpreter_for(bal), lines)
    except ConfigError as e:      # only I/O can fail here (a port taken, a log unwritable)
        log.error("SIGHUP: %s; the lines before it were applied", e)
        return False
    reloadlog.info("SIGHUP: %s applied (%d commands)", bal.state.settings.config_file, len(lines))
    return True


def _refused(e: ConfigError) -> bool:
    log.error("SIGHUP: %s; the running configuration stays in force", e)
    return False


def names_in(lines: list[configfile.Line]) -> list[str]:
    """The host names that `server N address HOST` lines need looked up, each once."""
    hosts = (lookup_target(words) for words in (line.text.split() for line in lines))
    return list(dict.fromkeys(line.text.split()[at] for line, at in zip(lines, hosts) if at is not None))


def with_addresses(lines: list[configfile.Line], found: LookupResult) -> list[configfile.Line]:
    """The lines with each looked-up name replaced by its address; a name that could not be
    looked up makes its line bad, as the interpreter's own lookup would."""
    out = []
    for line in lines:
        words = line.text.split()
        at = lookup_target(words)
        if at is None:
            out.append(line)
            continue
        address = found[words[at]]
        if isinstance(address, Exception):
            raise ConfigError(f"{line.where()}: server {words[1]} address: {address}")
        words[at] = address
        out.append(dataclasses.replace(line, text=" ".join(words)))
    return out


def open_control(bal: Balancer, address: str, sock: socket.socket | None = None) -> None:
    try:
        _open_control(bal, address, sock)
    except socket.gaierror as e:
        raise AddressError(f"unknown or invalid address: {e.strerror}") from None


def on_sighup(bal: Balancer, done: Callable[[], None] = lambda: None) -> None:
    """Reopen the file log, then re-read -F (docs/configuration.md "SIGHUP"); `done` runs once
    the file is applied or refused.  Names in `server` lines are looked up in a resolver thread
    (pen.engine.lookups), so a slow DNS server holds the reload, not the traffic; a SIGHUP that
    comes meanwhile re-reads the file once more after that, so the newest file wins."""
    bal.reopen_log()
    path = bal.state.settings.config_file
    if not path:
        reloadlog.info("SIGHUP: log reopened (no -F file to re-read)")
        done()
        return
    if bal.reload_waiting:
        bal.reload_again = True
        return
    try:
        lines = load_file(interpreter_for(bal), path)
    except ConfigError as e:
        _refused(e)
        done()
        return
    hosts = names_in(lines)
    if not hosts:
        reload_lines(bal, lines)
        done()
        return

    def looked_up(found: Future[LookupResult]) -> None:
        bal.reload_waiting = False
        try:
            reload_lines(bal, with_addresses(lines, found.result()))
        except ConfigError as e:
            _refused(e)
        if bal.reload_again:
            bal.reload_again = False
            on_sighup(bal, done)
        else:
            done()

    bal.reload_waiting = True
    udp = bal.state.settings.udp
    in_thread(bal.reactor, lambda: look_up_names(hosts, udp), looked_up)


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
