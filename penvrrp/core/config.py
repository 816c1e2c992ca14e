"""Instance configuration: TOML file or command line -> validated, immutable configs.

Both sources go through ``instance_from_dict`` so a key means the same thing in both
and every error names the instance, the key and the problem (architecture.md,
"Errors").  Configs are frozen and comparable, which is how SIGHUP tells an unchanged
instance (keep running, keep the VIP) from a changed one (restart it).
"""

from __future__ import annotations

import ipaddress
import socket
import tomllib
from dataclasses import dataclass
from typing import Any

from penvrrp.core import packet
from penvrrp.core.penprobe import AddressError, split_address
from penvrrp.core.timing import interval_to_cs

DEFAULT_STATE_FILE = "/run/penvrrp/state.json"
CHECKSUM_MODES = (packet.CHECKSUM_PSEUDO, packet.CHECKSUM_PLAIN)


class ConfigError(ValueError):
    """A configuration problem, worded for the operator."""


@dataclass(slots=True, frozen=True)
class Vip:
    address: str
    prefixlen: int

    @property
    def family(self) -> int:
        return packet.family_of(self.address)

    def __str__(self) -> str:
        return f"{self.address}/{self.prefixlen}"


@dataclass(slots=True, frozen=True)
class PenTrack:
    """Track the local pen: its control port answers ``pid``; optionally its listen port accepts."""

    control: str
    listen: str | None = None
    weight: int = 0
    interval: float = 1.0
    timeout: float = 1.0
    rise: int = 1
    fall: int = 1

    @property
    def name(self) -> str:
        return f"pen:{self.control}"


@dataclass(slots=True, frozen=True)
class InterfaceTrack:
    interface: str
    weight: int = 0

    @property
    def name(self) -> str:
        return f"interface:{self.interface}"


@dataclass(slots=True, frozen=True)
class ScriptTrack:
    """keepalived's vrrp_script: exit status 0 is success."""

    command: str
    weight: int = 0
    interval: float = 1.0
    timeout: float = 2.0
    rise: int = 1
    fall: int = 1

    @property
    def name(self) -> str:
        return f"script:{self.command}"


@dataclass(slots=True, frozen=True)
class InstanceConfig:
    name: str
    interface: str
    vrid: int
    vips: tuple[Vip, ...]
    priority: int = 100
    version: int = 3
    interval_cs: int = 100
    preempt: bool = True
    preempt_delay: float = 0.0
    unicast_src: str | None = None
    unicast_peers: tuple[str, ...] = ()
    check_unicast_src: bool = True
    min_ttl: int = 255
    auth_pass: str | None = None
    checksum_mode: str = packet.CHECKSUM_PSEUDO
    strict_checksum: bool = False
    check_vips: bool = True
    garp_repeat: int = 5
    garp_delay: float = 5.0
    garp_refresh: float = 0.0
    release_delay: float = 1.0
    handover_forward: bool = True
    notify: str | None = None
    notify_master: str | None = None
    notify_backup: str | None = None
    notify_fault: str | None = None
    notify_stop: str | None = None
    track_primary: bool = True
    track_pen: tuple[PenTrack, ...] = ()
    track_interface: tuple[InterfaceTrack, ...] = ()
    track_script: tuple[ScriptTrack, ...] = ()

    @property
    def family(self) -> int:
        return self.vips[0].family

    @property
    def unicast(self) -> bool:
        return bool(self.unicast_peers)

    @property
    def vip_addresses(self) -> frozenset[str]:
        return frozenset(v.address for v in self.vips)


@dataclass(slots=True, frozen=True)
class Config:
    instances: tuple[InstanceConfig, ...]
    state_file: str = DEFAULT_STATE_FILE
    metrics_listen: str | None = None        # [HOST:]PORT of /metrics and /status.json
    node_name: str | None = None             # how /status.json and /metrics name this node (None: hostname)


_INSTANCE_KEYS = {
    "name", "interface", "vrid", "vips", "priority", "version", "advert_int", "preempt",
    "nopreempt", "preempt_delay", "unicast_src", "unicast_peers", "check_unicast_src", "min_ttl",
    "auth_pass", "checksum_mode", "strict_checksum", "check_vips", "garp_repeat", "garp_delay",
    "garp_refresh", "release_delay", "handover_forward", "notify", "notify_master", "notify_backup", "notify_fault", "notify_stop",
    "track_primary", "track_pen", "track_interface", "track_script",
}
_PEN_KEYS = {"control", "listen", "weight", "interval", "timeout", "rise", "fall"}
_IFACE_KEYS = {"interface", "weight"}
_SCRIPT_KEYS = {"command", "weight", "interval", "timeout", "rise", "fall"}


def _typed(where: str, key: str, value: Any, kind: type | tuple[type, ...]) -> Any:
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise ConfigError(f"{where}: {key} must be a number, not {value!r}")
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ConfigError(f"{where}: {key} must be {names}, not {value!r}")
    return value


def _number(where: str, d: dict[str, Any], key: str, default: float, lo: float, hi: float) -> float:
    value = _typed(where, key, d.get(key, default), (int, float))
    if not lo <= value <= hi:
        raise ConfigError(f"{where}: {key} must be between {lo:g} and {hi:g}, not {value}")
    return value


def _integer(where: str, d: dict[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    value = _typed(where, key, d.get(key, default), int)
    if not lo <= value <= hi:
        raise ConfigError(f"{where}: {key} must be between {lo} and {hi}, not {value}")
    return value


def _opt_str(where: str, d: dict[str, Any], key: str) -> str | None:
    value = d.get(key)
    if value is None or value == "":
        return None
    return _typed(where, key, value, str)


def _unknown(where: str, d: dict[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(d) - allowed)
    if extra:
        raise ConfigError(f"{where}: unknown key {extra[0]!r} (known: {', '.join(sorted(allowed))})")


def parse_vip(text: str, where: str = "vip") -> Vip:
    """ADDR[/LEN]; a bare address gets /32 or /128 (keepalived's default)."""
    try:
        iface = ipaddress.ip_interface(text.strip())
    except ValueError:
        raise ConfigError(f"{where}: {text!r} is not an address[/prefixlen]") from None
    return Vip(str(iface.ip), iface.network.prefixlen)


def _address(where: str, key: str, text: Any) -> str:
    try:
        return str(ipaddress.ip_address(_typed(where, key, text, str)))
    except ValueError:
        raise ConfigError(f"{where}: {key} {text!r} is not an IP address") from None


def _weight(where: str, d: dict[str, Any]) -> int:
    return _integer(where, d, "weight", 0, -253, 253)


def _tracks(where: str, d: dict[str, Any], key: str) -> list[dict[str, Any]]:
    items = d.get(key, [])
    if isinstance(items, (str, dict)):
        items = [items]
    return _typed(where, key, items, list)


def _pen_track(where: str, item: Any) -> PenTrack:
    if isinstance(item, str):
        item = {"control": item}
    item = _typed(where, "track_pen", item, dict)
    _unknown(where + " track_pen", item, _PEN_KEYS)
    if "control" not in item:
        raise ConfigError(f"{where}: track_pen needs a control address (host:port or unix socket path)")
    return PenTrack(
        control=_typed(where, "track_pen.control", item["control"], str),
        listen=_opt_str(where, item, "listen"),
        weight=_weight(where + " track_pen", item),
        interval=_number(where, item, "interval", 1.0, 0.05, 3600),
        timeout=_number(where, item, "timeout", 1.0, 0.05, 3600),
        rise=_integer(where, item, "rise", 1, 1, 100),
        fall=_integer(where, item, "fall", 1, 1, 100),
    )


def _iface_track(where: str, item: Any) -> InterfaceTrack:
    if isinstance(item, str):
        item = {"interface": item}
    item = _typed(where, "track_interface", item, dict)
    _unknown(where + " track_interface", item, _IFACE_KEYS)
    if "interface" not in item:
        raise ConfigError(f"{where}: track_interface needs an interface name")
    return InterfaceTrack(_typed(where, "track_interface.interface", item["interface"], str),
                          _weight(where + " track_interface", item))


def _script_track(where: str, item: Any) -> ScriptTrack:
    if isinstance(item, str):
        item = {"command": item}
    item = _typed(where, "track_script", item, dict)
    _unknown(where + " track_script", item, _SCRIPT_KEYS)
    if "command" not in item:
        raise ConfigError(f"{where}: track_script needs a command")
    return ScriptTrack(
        command=_typed(where, "track_script.command", item["command"], str),
        weight=_weight(where + " track_script", item),
        interval=_number(where, item, "interval", 1.0, 0.05, 3600),
        timeout=_number(where, item, "timeout", 2.0, 0.05, 3600),
        rise=_integer(where, item, "rise", 1, 1, 100),
        fall=_integer(where, item, "fall", 1, 1, 100),
    )


def instance_from_dict(d: dict[str, Any], index: int = 0) -> InstanceConfig:
    """Validate one instance table (TOML ``[[instance]]`` or the command line)."""
    vrid_hint = d.get("vrid")
    name = d.get("name") or (f"VI_{vrid_hint}" if isinstance(vrid_hint, int) else f"instance {index + 1}")
    where = f"instance {name!r}"
    _unknown(where, d, _INSTANCE_KEYS)
    _typed(where, "name", name, str)
    if not d.get("interface"):
        raise ConfigError(f"{where}: interface is required")
    interface = _typed(where, "interface", d["interface"], str)
    if "vrid" not in d:
        raise ConfigError(f"{where}: vrid is required (1-255)")
    vrid = _integer(where, d, "vrid", 0, 1, 255)
    vip_list = d.get("vips", [])
    if isinstance(vip_list, str):
        vip_list = [vip_list]
    vips = tuple(parse_vip(_typed(where, "vips", v, str), f"{where}: vips") for v in _typed(where, "vips", vip_list, list))
    if not vips:
        raise ConfigError(f"{where}: at least one VIP is required (vips = [\"ADDR/LEN\"])")
    families = {v.family for v in vips}
    if len(families) > 1:
        raise ConfigError(f"{where}: vips mix IPv4 and IPv6; use one instance per family")
    if len({v.address for v in vips}) != len(vips):
        raise ConfigError(f"{where}: a VIP is listed twice")
    version = _integer(where, d, "version", 3, 2, 3)
    if vips[0].family == socket.AF_INET6 and version == 2:
        raise ConfigError(f"{where}: VRRPv2 is IPv4 only; IPv6 VIPs need version 3")
    advert_int = _number(where, d, "advert_int", 1.0, 0.01, 255)
    try:
        interval_cs = interval_to_cs(advert_int, version)
    except ValueError as exc:
        raise ConfigError(f"{where}: advert_int: {exc}") from None
    preempt = _typed(where, "preempt", d.get("preempt", True), bool)
    if _typed(where, "nopreempt", d.get("nopreempt", False), bool):
        preempt = False
    auth_pass = _opt_str(where, d, "auth_pass")
    if auth_pass is not None and version != 2:
        raise ConfigError(f"{where}: auth_pass exists only in VRRPv2 (RFC 3768); set version = 2")
    unicast_src = _address(where, "unicast_src", d["unicast_src"]) if d.get("unicast_src") else None
    peers_raw = d.get("unicast_peers", [])
    if isinstance(peers_raw, str):
        peers_raw = [peers_raw]
    peers = tuple(_address(where, "unicast_peers", p) for p in _typed(where, "unicast_peers", peers_raw, list))
    for addr in (unicast_src, *peers):
        if addr is not None and packet.family_of(addr) != vips[0].family:
            raise ConfigError(f"{where}: unicast address {addr} is not the VIPs' address family")
    checksum_mode = _typed(where, "checksum_mode", d.get("checksum_mode", packet.CHECKSUM_PSEUDO), str)
    if checksum_mode not in CHECKSUM_MODES:
        raise ConfigError(f"{where}: checksum_mode must be pseudo or plain, not {checksum_mode!r}")
    priority = _integer(where, d, "priority", 100, 1, 255)
    return InstanceConfig(
        name=name, interface=interface, vrid=vrid, vips=vips, priority=priority,
        version=version, interval_cs=interval_cs, preempt=preempt,
        preempt_delay=_number(where, d, "preempt_delay", 0.0, 0, 1000),
        unicast_src=unicast_src, unicast_peers=peers,
        check_unicast_src=_typed(where, "check_unicast_src", d.get("check_unicast_src", True), bool),
        min_ttl=_integer(where, d, "min_ttl", 255, 1, 255),
        auth_pass=auth_pass, checksum_mode=checksum_mode,
        strict_checksum=_typed(where, "strict_checksum", d.get("strict_checksum", False), bool),
        check_vips=_typed(where, "check_vips", d.get("check_vips", True), bool),
        garp_repeat=_integer(where, d, "garp_repeat", 5, 1, 100),
        garp_delay=_number(where, d, "garp_delay", 5.0, 0, 3600),
        garp_refresh=_number(where, d, "garp_refresh", 0.0, 0, 86400),
        release_delay=_number(where, d, "release_delay", 1.0, 0, 10),
        handover_forward=_typed(where, "handover_forward", d.get("handover_forward", True), bool),
        notify=_opt_str(where, d, "notify"),
        notify_master=_opt_str(where, d, "notify_master"),
        notify_backup=_opt_str(where, d, "notify_backup"),
        notify_fault=_opt_str(where, d, "notify_fault"),
        notify_stop=_opt_str(where, d, "notify_stop"),
        track_primary=_typed(where, "track_primary", d.get("track_primary", True), bool),
        track_pen=tuple(_pen_track(where, t) for t in _tracks(where, d, "track_pen")),
        track_interface=tuple(_iface_track(where, t) for t in _tracks(where, d, "track_interface")),
        track_script=tuple(_script_track(where, t) for t in _tracks(where, d, "track_script")),
    )


def config_from_dict(doc: dict[str, Any], source: str = "config") -> Config:
    """A whole document: optional ``state_file`` and one or more ``[[instance]]`` tables."""
    _unknown(source, doc, {"state_file", "metrics_listen", "node_name", "instance"})
    tables = doc.get("instance", [])
    if isinstance(tables, dict):
        tables = [tables]
    if not isinstance(tables, list) or not tables:
        raise ConfigError(f"{source}: no [[instance]] defined")
    instances = tuple(instance_from_dict(_typed(source, "instance", t, dict), i) for i, t in enumerate(tables))
    check_unique(instances, source)
    state_file = _typed(source, "state_file", doc.get("state_file", DEFAULT_STATE_FILE), str)
    metrics_listen = _opt_str(source, doc, "metrics_listen")
    if metrics_listen is not None:
        try:
            split_address(str(metrics_listen))
        except AddressError as exc:
            raise ConfigError(f"{source}: metrics_listen: {exc}") from None
    node_name = _opt_str(source, doc, "node_name")
    if node_name is not None and (not node_name.strip() or any(c in node_name for c in '"\\\n\r')):
        raise ConfigError(f"{source}: node_name must be a non-empty name without quotes, backslashes "
                          f"or line breaks, not {node_name!r}")
    return Config(instances, state_file, metrics_listen, node_name)


def check_unique(instances: tuple[InstanceConfig, ...], source: str) -> None:
    """Names must differ, and so must (interface, family, VRID): they would share adverts."""
    names: set[str] = set()
    keys: set[tuple[str, int, int]] = set()
    for inst in instances:
        if inst.name in names:
            raise ConfigError(f"{source}: instance name {inst.name!r} used twice")
        key = (inst.interface, inst.family, inst.vrid)
        if key in keys:
            raise ConfigError(f"{source}: instance {inst.name!r}: VRID {inst.vrid} already used on {inst.interface}")
        names.add(inst.name)
        keys.add(key)


def load_file(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def merge_cli(doc: dict[str, Any], cli: dict[str, Any]) -> dict[str, Any]:
    """Command-line instance settings: a whole instance when no file gave one, else
    overrides applied to every instance of the file (keepalived has no such thing; it
    keeps `penvrrp -c FILE -p 90` meaningful)."""
    doc = dict(doc)
    tables = doc.get("instance")
    if not tables:
        if cli:
            doc["instance"] = [cli]
        return doc
    if isinstance(tables, dict):
        tables = [tables]
    doc["instance"] = [{**t, **cli} for t in tables]
    return doc
