"""penvrrp.core.config: TOML and command-line instances, and their error messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from penvrrp.core import config
from penvrrp.core.config import ConfigError, Vip

TWO = """
state_file = "/tmp/x.json"

[[instance]]
name = "LB_A"
interface = "eth0"
vrid = 51
priority = 150
vips = ["192.0.2.100/24"]
advert_int = 0.2
notify = "/usr/local/bin/lb-notify"
track_pen = [{control = "127.0.0.1:10000", listen = "127.0.0.1:80", weight = -60, interval = 0.5, fall = 2}]
track_interface = ["eth1", {interface = "eth2", weight = -10}]
track_script = [{command = "pidof pen", weight = 0}]

[[instance]]
name = "LB_B"
interface = "eth0"
vrid = 52
version = 2
advert_int = 1
auth_pass = "s3cr3t"
nopreempt = true
vips = ["198.51.100.100"]
unicast_src = "192.0.2.1"
unicast_peers = ["192.0.2.2"]
"""


def test_two_instances(tmp_path: Path) -> None:
    p = tmp_path / "penvrrp.toml"
    p.write_text(TWO)
    cfg = config.config_from_dict(config.load_file(str(p)))
    a, b = cfg.instances
    assert cfg.state_file == "/tmp/x.json"
    assert a.name == "LB_A" and a.vrid == 51 and a.priority == 150 and a.interval_cs == 20
    assert a.vips == (Vip("192.0.2.100", 24),) and a.version == 3 and a.preempt
    assert a.track_pen[0].listen == "127.0.0.1:80" and a.track_pen[0].weight == -60 and a.track_pen[0].fall == 2
    assert [t.interface for t in a.track_interface] == ["eth1", "eth2"]
    assert a.track_script[0].command == "pidof pen"
    assert b.version == 2 and b.interval_cs == 100 and b.auth_pass == "s3cr3t" and not b.preempt
    assert b.vips == (Vip("198.51.100.100", 32),) and b.unicast and b.unicast_peers == ("192.0.2.2",)
    # frozen and comparable: what SIGHUP relies on
    assert config.config_from_dict(config.load_file(str(p))) == cfg


def base(**kw: object) -> dict[str, object]:
    d: dict[str, object] = {"interface": "eth0", "vrid": 1, "vips": ["192.0.2.100/24"]}
    d.update(kw)
    return d


@pytest.mark.parametrize("kw,message", [
    ({"vrid": 0}, "vrid must be between 1 and 255"),
    ({"vrid": "x"}, "vrid must be int"),
    ({"priority": 256}, "priority must be between 1 and 255"),
    ({"vips": []}, "at least one VIP"),
    ({"vips": ["192.0.2.300"]}, "not an address"),
    ({"vips": ["192.0.2.1", "2001:db8::1"]}, "mix IPv4 and IPv6"),
    ({"version": 2, "advert_int": 0.2}, "whole seconds"),
    ({"advert_int": 41}, "0.01-40.95"),
    ({"auth_pass": "x"}, "only in VRRPv2"),
    ({"version": 2, "vips": ["2001:db8::1"]}, "IPv4 only"),
    ({"checksum_mode": "rfc"}, "pseudo or plain"),
    ({"colour": "red"}, "unknown key 'colour'"),
    ({"unicast_peers": ["2001:db8::2"]}, "not the VIPs' address family"),
    ({"track_pen": [{"listen": "1.2.3.4:80"}]}, "needs a control address"),
    ({"track_script": [{"command": "true", "weight": 300}]}, "weight must be between -253 and 253"),
    ({"preempt": "yes"}, "preempt must be bool"),
])
def test_errors_name_instance_key_and_problem(kw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        config.instance_from_dict(base(**kw))
    assert "instance 'VI_" in str(err.value) or "instance 1" in str(err.value)


def test_missing_required() -> None:
    with pytest.raises(ConfigError, match="interface is required"):
        config.instance_from_dict({"vrid": 3, "vips": ["192.0.2.1"]})
    with pytest.raises(ConfigError, match="vrid is required"):
        config.instance_from_dict({"interface": "eth0", "vips": ["192.0.2.1"]})


def test_duplicates_rejected() -> None:
    doc = {"instance": [base(name="a"), base(name="a", vrid=2)]}
    with pytest.raises(ConfigError, match="used twice"):
        config.config_from_dict(doc)
    doc = {"instance": [base(name="a"), base(name="b")]}
    with pytest.raises(ConfigError, match="VRID 1 already used on eth0"):
        config.config_from_dict(doc)
    with pytest.raises(ConfigError, match="no \\[\\[instance\\]\\]"):
        config.config_from_dict({})


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        config.load_file(str(tmp_path / "missing.toml"))
    p = tmp_path / "bad.toml"
    p.write_text("[[instance]\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        config.load_file(str(p))


def test_merge_cli_overrides_every_instance() -> None:
    doc = {"instance": [base(name="a"), base(name="b", vrid=2)]}
    merged = config.config_from_dict(config.merge_cli(doc, {"priority": 90}))
    assert [i.priority for i in merged.instances] == [90, 90]
    alone = config.config_from_dict(config.merge_cli({}, base(vrid=9)))
    assert alone.instances[0].name == "VI_9"


def test_node_name_is_top_level_and_checked() -> None:
    inst = {"interface": "eth0", "vrid": 51, "vips": ["192.0.2.100/24"]}
    assert config.config_from_dict({"instance": [inst]}).node_name is None
    assert config.config_from_dict({"node_name": "lb1", "instance": [inst]}).node_name == "lb1"
    for bad in (" ", 'a"b', "a\nb"):
        with pytest.raises(config.ConfigError, match="node_name"):
            config.config_from_dict({"node_name": bad, "instance": [inst]})
