"""penvrrp command line (docs/penvrrp.md).

Option names follow keepalived's configuration keywords so an operator's habits carry
over.  The command line either describes one instance by itself or, with ``-c FILE``,
overrides the given settings in every instance of the file.  Everything is validated
by penvrrp.core.config, so a bad option and a bad file line read the same way.
"""

from __future__ import annotations

import asyncio
import faulthandler
import json
import logging
import logging.handlers
import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from pen.procutil import daemonize, log_handler
from pen.version import version_option
from penvrrp.core import config, privileges
from penvrrp.core.config import Config, ConfigError

log = logging.getLogger("penvrrp")


def _cli_instance(opts: dict[str, Any]) -> dict[str, Any]:
    """Only what was given on the command line, keyed as in the TOML file."""
    d: dict[str, Any] = {}
    simple = {"name": "name", "interface": "interface", "vrid": "vrid", "priority": "priority",
              "advert_int": "advert_int", "vrrp_version": "version", "preempt_delay": "preempt_delay",
              "unicast_src": "unicast_src", "auth_pass": "auth_pass", "notify": "notify",
              "notify_master": "notify_master", "notify_backup": "notify_backup",
              "notify_fault": "notify_fault", "notify_stop": "notify_stop",
              "checksum_mode": "checksum_mode", "garp_repeat": "garp_repeat", "garp_delay": "garp_delay",
              "garp_refresh": "garp_refresh"}
    for opt, key in simple.items():
        if opts.get(opt) is not None:
            d[key] = opts[opt]
    if opts["nopreempt"]:
        d["preempt"] = False
    if opts["vip"]:
        d["vips"] = list(opts["vip"])
    if opts["unicast_peer"]:
        d["unicast_peers"] = list(opts["unicast_peer"])
    probe = {"weight": opts["track_weight"], "interval": opts["track_interval"],
             "rise": opts["track_rise"], "fall": opts["track_fall"]}
    if opts["track_pen"]:
        d["track_pen"] = [{"control": c, "listen": opts["track_pen_listen"], **probe} for c in opts["track_pen"]]
    if opts["track_interface"]:
        d["track_interface"] = [{"interface": i, "weight": opts["track_weight"]} for i in opts["track_interface"]]
    if opts["track_script"]:
        d["track_script"] = [{"command": c, **probe} for c in opts["track_script"]]
    return d


def build_config(opts: dict[str, Any]) -> Config:
    doc = config.load_file(opts["config_file"]) if opts["config_file"] else {}
    cli = _cli_instance(opts)
    if not doc and not cli.get("interface") and not cli.get("vips"):
        raise ConfigError("nothing to run: give -c FILE, or -i IFACE --vrid N --vip ADDR")
    doc = config.merge_cli(doc, cli)
    if opts["state_file"]:
        doc["state_file"] = opts["state_file"]
    if opts.get("metrics_listen"):
        doc["metrics_listen"] = opts["metrics_listen"]
    if opts.get("node_name") is not None:
        doc["node_name"] = opts["node_name"]
    return config.config_from_dict(doc, opts["config_file"] or "command line")


def _setup_logging(foreground: bool, debug: bool) -> None:
    level = logging.DEBUG if debug else logging.INFO
    log.addHandler(log_handler("penvrrp", foreground))
    log.setLevel(level)


_TRACK_HELP = ("Tracked objects lower the priority by --track-weight while failing; "
               "weight 0 (the default) puts the instance in FAULT instead.")


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["--help"],
                                                            "max_content_width": 100},
             epilog="Subcommands: `penvrrp status [--state-file FILE] [--json]` prints the running state "
                    "(exit 3 when the agent is gone or its state is stale); `penvrrp -c FILE cleanup` "
                    "resigns and removes the VIPs a killed agent left behind. "
                    + _TRACK_HELP + " See docs/penvrrp.md.")
@click.option("-f", "--foreground", is_flag=True, help="Stay in the foreground and log to stderr.")
@click.option("-c", "--config", "config_file", metavar="FILE", help="TOML file with one or more [[instance]] tables.")
@click.option("-i", "--interface", metavar="IFACE", help="Interface the instance runs on.")
@click.option("--vrid", type=int, metavar="N", help="Virtual router id, 1-255.")
@click.option("-p", "--priority", type=int, metavar="PRIORITY", help="1-255, 255 = address owner [100].")
@click.option("--vip", multiple=True, metavar="ADDR[/LEN]", help="Virtual IP address; repeat for more.")
@click.option("--advert-int", type=float, metavar="SECONDS", help="Advert interval; v3 0.01-40.95, v2 whole seconds [1].")
@click.option("--vrrp-version", type=click.IntRange(2, 3), metavar="2|3",
              help="VRRP protocol version [3] (config key `version`).")
@click.option("--nopreempt", is_flag=True, help="Never take over from a lower-priority master.")
@click.option("--preempt-delay", type=float, metavar="S", help="Accept a lower-priority master for S seconds after start.")
@click.option("--unicast-src", metavar="ADDR", help="Source address for unicast adverts.")
@click.option("--unicast-peer", multiple=True, metavar="ADDR", help="Send adverts to this peer instead of multicast; repeat.")
@click.option("--auth-pass", metavar="PASS", help="VRRPv2 PASS authentication (first 8 bytes; interop only, not security).")
@click.option("--track-pen", multiple=True, metavar="ADDR", help="pen control port (host:port or socket path) that must answer `pid`.")
@click.option("--track-pen-listen", metavar="ADDR", help="Also require a TCP connect to pen's listen port.")
@click.option("--track-interface", multiple=True, metavar="IFACE", help="Interface whose link must be up.")
@click.option("--track-script", multiple=True, metavar="CMD", help="Shell command that must exit 0.")
@click.option("--track-weight", type=int, default=0, show_default=True, metavar="N", help="Weight of the command-line trackers.")
@click.option("--track-interval", type=float, default=1.0, show_default=True, metavar="S", help="Seconds between probes.")
@click.option("--track-rise", type=int, default=1, show_default=True, metavar="N", help="Successes needed to recover.")
@click.option("--track-fall", type=int, default=1, show_default=True, metavar="N", help="Failures needed to fail.")
@click.option("--notify", metavar="SCRIPT", help="Run as SCRIPT INSTANCE NAME STATE PRIORITY on every transition.")
@click.option("--notify-master", metavar="SCRIPT", help="Run on becoming MASTER.")
@click.option("--notify-backup", metavar="SCRIPT", help="Run on becoming BACKUP.")
@click.option("--notify-fault", metavar="SCRIPT", help="Run on entering FAULT.")
@click.option("--notify-stop", metavar="SCRIPT", help="Run when the instance stops.")
@click.option("--name", metavar="NAME", help="Instance name [VI_<vrid>].")
@click.option("--checksum-mode", type=click.Choice(["pseudo", "plain"]),
              help="VRRPv3/IPv4 checksum sent: pseudo (keepalived) or plain (RFC 9568) [pseudo].")
@click.option("--garp-repeat", type=int, metavar="N", help="Gratuitous ARPs/NAs per VIP per burst [5].")
@click.option("--garp-delay", type=float, metavar="S", help="Second burst this long after becoming master, 0 = none [5].")
@click.option("--garp-refresh", type=float, metavar="S", help="Re-announce every S seconds as master, 0 = never [0].")
@click.option("--state-file", metavar="FILE", help=f"JSON state and counters [{config.DEFAULT_STATE_FILE}].")
@click.option("--pid-file", metavar="FILE", help="Write the daemon's pid here.")
@click.option("--metrics-listen", metavar="[HOST:]PORT",
              help="Serve GET /metrics (Prometheus) and /status.json here [host 127.0.0.1].")
@click.option("--node-name", metavar="NAME",
              help="This node's name in /status.json and /metrics [the hostname].")
@click.option("--debug", is_flag=True, help="Log at debug level.")
@click.option("--check", is_flag=True, help="Validate the configuration and exit.")
@version_option("penvrrp")
@click.pass_context
def main(ctx: click.Context, **opts: Any) -> None:
    """penvrrp: VRRP (v2/v3, IPv4/IPv6) agent moving a virtual IP between pen nodes,
    interoperating with keepalived."""
    ctx.obj = opts
    if ctx.invoked_subcommand is not None:
        return
    try:
        cfg = build_config(opts)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if opts["check"]:
        for inst in cfg.instances:
            click.echo(f"{inst.name}: {inst.interface} vrid {inst.vrid} v{inst.version} priority {inst.priority} "
                       f"vips {' '.join(str(v) for v in inst.vips)}")
        click.echo(f"configuration OK: {len(cfg.instances)} instance(s)")
        return
    try:   # scapy and pyroute2 come with the vrrp extra, only penvrrp needs them
        from penvrrp.runtime.agent import Agent
    except ImportError as exc:
        raise click.ClickException(f"{exc}: penvrrp needs scapy and pyroute2>=0.9.1, "
                                   "install them with: pip install 'pen-ha[vrrp]'") from None
    try:
        lacking = privileges.missing(Path("/proc/self/status").read_text())
    except OSError:
        lacking = []
    if lacking:
        click.echo(f"penvrrp: warning: without {', '.join(lacking)}: those will fail", err=True)
    if not opts["foreground"]:
        daemonize(keep_cwd=False)
    _setup_logging(opts["foreground"], opts["debug"])
    if opts["pid_file"]:
        with open(opts["pid_file"], "w") as fh:
            fh.write(f"{os.getpid()}\n")

    # systemd's watchdog sends SIGABRT to an agent that stopped pinging: say where it hung
    faulthandler.enable()

    def load() -> Config:
        return build_config(opts)

    try:
        code = asyncio.run(Agent(load).run())
    except Exception as exc:
        log.error("fatal: %s", exc, exc_info=opts["debug"])
        code = 1
    finally:
        if opts["pid_file"]:
            try:
                os.unlink(opts["pid_file"])
            except OSError:
                pass
    sys.exit(code)


@main.command()
@click.option("--state-file", metavar="FILE", help="State file the daemon writes.")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON document.")
@click.pass_context
def status(ctx: click.Context, state_file: str | None, as_json: bool) -> None:
    """Print each instance's state, priority, tracking and counters."""
    from penvrrp.core.status import render

    from penvrrp.core.status import staleness

    path = state_file or (ctx.obj or {}).get("state_file") or config.DEFAULT_STATE_FILE
    try:
        with open(path) as fh:
            doc = json.load(fh)
    except OSError as exc:
        raise click.ClickException(f"cannot read state file {path}: {exc.strerror} (is penvrrp running?)") from None
    except json.JSONDecodeError as exc:
        raise click.ClickException(f"state file {path} is not valid JSON: {exc}") from None
    why = staleness(doc, time.time(), _pid_alive)
    click.echo(json.dumps({**doc, "stale": why}, indent=1) if as_json else render(doc, why))
    if why:
        sys.exit(STALE_EXIT)


STALE_EXIT = 3       # as LSB's "program is not running"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@main.command()
@click.pass_context
def cleanup(ctx: click.Context) -> None:
    """Resign and remove the VIPs a dead agent left on its interfaces (ExecStopPost)."""
    opts = ctx.obj or {}
    try:
        cfg = build_config(opts)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    _setup_logging(True, bool(opts.get("debug")))
    from penvrrp.runtime.cleanup import release_all

    removed = asyncio.run(release_all(cfg))
    click.echo(f"removed {' '.join(removed)}" if removed else "no VIPs held")
