"""webstats.vrrp: penvrrp's status contract as webstats reads it (pure: no sockets)."""
from __future__ import annotations

import pytest

from support.webstats import vrrp_doc, vrrp_instance
from webstats import vrrp


def test_parse_the_contract() -> None:
    st = vrrp.parse(vrrp_doc(vrrp_instance(), vrrp_instance("VI_52", "BACKUP", 100, 40, vrid=52,
                                                       up=False)))
    assert st.node == "lb1" and [i.name for i in st.instances] == ["VI_51", "VI_52"]
    b = st.instances[1]
    assert (b.vrid, b.state, b.priority, b.effective_priority) == (52, "BACKUP", 100, 40)
    assert b.vips == ("192.0.2.100/24",) and b.seconds_in_state == 42.5
    assert b.trackers[0].up is False


@pytest.mark.parametrize("mutate,why", [
    (lambda d: d.pop("node"), "'node' missing"),
    (lambda d: d.update(instances={}), "'instances' missing or not a list"),
    (lambda d: d["instances"][0].update(vrid="51"), "'vrid' missing or not an integer"),
    (lambda d: d["instances"][0].update(vrid=True), "'vrid' missing or not an integer"),
    (lambda d: d["instances"][0].update(priority=1.5), "'priority'"),
    (lambda d: d["instances"][0].update(seconds_in_state="long"), "'seconds_in_state'"),
    (lambda d: d["instances"][0].update(vips=[1]), "'vips' must be strings"),
    (lambda d: d["instances"][0]["trackers"][0].update(up="yes"), "'up' missing"),
    (lambda d: d["instances"].append(7), "instance 1: not an object"),
])
def test_off_contract_documents_say_what_is_wrong(mutate, why) -> None:
    d = vrrp_doc(vrrp_instance())
    mutate(d)
    with pytest.raises(vrrp.VrrpError, match=why.replace("(", r"\(")):
        vrrp.parse(d)
    with pytest.raises(vrrp.VrrpError, match="not a JSON object"):
        vrrp.parse([d])


def test_only_http_urls() -> None:
    assert vrrp.check_url("http://192.0.2.11:9110/status.json")
    for bad in ("file:///etc/passwd", "ftp://x/y", "http:///status.json", "192.0.2.1:80"):
        with pytest.raises(vrrp.VrrpError):
            vrrp.check_url(bad)
    with pytest.raises(vrrp.VrrpError, match="file:///etc/passwd"):
        vrrp.fetch("file:///etc/passwd", 1.0)
