"""The node's VRRP state, as penvrrp serves it (`penvrrp --metrics-listen [HOST:]PORT`,
GET /status.json; docs/penvrrp.md):

    {"node": HOSTNAME, "instances": [{"name", "vrid", "state", "priority",
      "effective_priority", "vips": [...], "seconds_in_state", "trackers": [{"name", "up"}]}]}

`parse` checks that shape and says what is wrong (pure); `fetch` is the thin HTTP shell.
A document from the network is data: anything off-contract is a VrrpError, never a crash.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

STATES = ("MASTER", "BACKUP", "FAULT", "INIT")
MAX_DOCUMENT = 1 << 20


class VrrpError(Exception):
    """The status could not be fetched or is not what penvrrp serves."""


@dataclass(frozen=True, slots=True)
class Tracker:
    """One object an instance tracks (pen, an interface, a script) and whether it is up."""

    name: str
    up: bool


@dataclass(frozen=True, slots=True)
class Instance:
    """One VRRP instance as penvrrp reports it."""

    name: str
    vrid: int
    state: str                       # one of STATES, or what an unknown agent said
    priority: int
    effective_priority: int
    vips: tuple[str, ...]
    seconds_in_state: float
    trackers: tuple[Tracker, ...]


@dataclass(frozen=True, slots=True)
class VrrpStatus:
    node: str
    instances: tuple[Instance, ...]


def _field(d: dict, key: str, kinds: tuple[type, ...], what: str, where: str) -> object:
    value = d.get(key)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise VrrpError(f"{where}: '{key}' missing or not {what}")
    return value


def _str(d: dict, key: str, where: str) -> str:
    return str(_field(d, key, (str,), "a string", where))


def _int(d: dict, key: str, where: str) -> int:
    value = _field(d, key, (int,), "an integer", where)
    assert isinstance(value, int)
    return value


def _number(d: dict, key: str, where: str) -> float:
    value = _field(d, key, (int, float), "a number", where)
    assert isinstance(value, (int, float))
    return float(value)


def _list(d: dict, key: str, where: str) -> list:
    value = _field(d, key, (list,), "a list", where)
    assert isinstance(value, list)
    return value


def _instance(item: object, where: str) -> Instance:
    if not isinstance(item, dict):
        raise VrrpError(f"{where}: not an object")
    trackers = []
    for j, t in enumerate(_list(item, "trackers", where)):
        if not isinstance(t, dict):
            raise VrrpError(f"{where}: tracker {j}: not an object")
        trackers.append(Tracker(_str(t, "name", f"{where} tracker {j}"),
                                bool(_field(t, "up", (bool,), "true/false", f"{where} tracker {j}"))))
    vips = _list(item, "vips", where)
    if not all(isinstance(v, str) for v in vips):
        raise VrrpError(f"{where}: 'vips' must be strings")
    return Instance(name=_str(item, "name", where), vrid=_int(item, "vrid", where),
                    state=_str(item, "state", where), priority=_int(item, "priority", where),
                    effective_priority=_int(item, "effective_priority", where),
                    vips=tuple(vips), seconds_in_state=_number(item, "seconds_in_state", where),
                    trackers=tuple(trackers))


def parse(doc: object) -> VrrpStatus:
    if not isinstance(doc, dict):
        raise VrrpError("not a JSON object")
    return VrrpStatus(_str(doc, "node", "status"),
                      tuple(_instance(item, f"instance {i}")
                            for i, item in enumerate(_list(doc, "instances", "status"))))


def check_url(url: str) -> str:
    """Only http(s) URLs: urllib would read file: and others too."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise VrrpError(f"'{url}': expected an http:// or https:// URL of penvrrp's /status.json")
    return url


def fetch(url: str, timeout: float) -> VrrpStatus:
    """GET `url` and parse it; every failure is a VrrpError naming the URL."""
    try:
        check_url(url)
        req = urllib.request.Request(url, headers={"Accept": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:       # noqa: S310 (checked)
            body = resp.read(MAX_DOCUMENT + 1)
        if len(body) > MAX_DOCUMENT:
            raise VrrpError("document larger than 1 MiB")
        return parse(json.loads(body))
    except VrrpError as exc:
        raise VrrpError(f"VRRP status {url}: {exc}") from None
    except urllib.error.HTTPError as exc:
        raise VrrpError(f"VRRP status {url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise VrrpError(f"VRRP status {url}: {getattr(exc.reason, 'strerror', None) or exc.reason}") from None
    except (OSError, ValueError) as exc:      # timeouts, resets, bad JSON or encoding
        raise VrrpError(f"VRRP status {url}: {exc}") from None
