"""ACL semantics (penctl(1) acl; docs/compatibility.md)."""
from __future__ import annotations

import pytest

from pen.core.acl import FAMILY_UNIX, AclError, Acls, client_family_and_int


def check(acls: Acls, n: int, host: str) -> bool:
    return acls.permits(n, *client_family_and_int(host))


def test_empty_list_permits_everything() -> None:
    assert check(Acls(), 3, "192.0.2.1")


def test_first_match_wins_and_default_is_opposite_of_last() -> None:
    a = Acls()
    a.add(1, ["permit", "127.0.0.1"])
    a.add(1, ["deny", "10.0.0.0", "255.0.0.0"])
    assert check(a, 1, "127.0.0.1")
    assert not check(a, 1, "10.1.2.3")
    assert check(a, 1, "192.0.2.9")            # last entry is deny -> the rest is permitted
    a2 = Acls()
    a2.add(2, ["permit", "192.0.2.0", "255.255.255.0"])
    assert check(a2, 2, "192.0.2.77")
    assert not check(a2, 2, "198.51.100.1")     # last entry is permit -> the rest is denied


def test_ipv6_prefix_and_family_separation() -> None:
    a = Acls()
    a.add(2, ["permit", "::1/128"])
    a.add(2, ["deny", "2001:db8::/32"])
    assert check(a, 2, "::1")
    assert not check(a, 2, "2001:db8::5")
    assert check(a, 2, "2001:db9::5")
    a.add(3, ["deny", "127.0.0.1"])
    assert check(a, 3, "::1") is True           # v4 entries ignored for v6 clients; default permit


def test_unmasked_address_is_masked_here() -> None:
    """C pen never matched `permit 127.0.0.5 255.0.0.0` (address not pre-masked); we do."""
    a = Acls()
    a.add(4, ["permit", "127.0.0.5", "255.0.0.0"])
    assert check(a, 4, "127.9.9.9")


def test_v4_mapped_v6_clients_match_v4_entries() -> None:
    a = Acls()
    a.add(1, ["deny", "192.0.2.1"])
    assert not check(a, 1, "::ffff:192.0.2.1")


def test_unix_clients_always_permitted() -> None:
    a = Acls()
    a.add(1, ["deny", "0.0.0.0", "0.0.0.0"])
    assert a.permits(1, FAMILY_UNIX, 0)


@pytest.mark.parametrize("n,words,msg", [
    (12, ["permit", "1.2.3.4"], "add_acl: 12 outside"),
    (4, ["maybe", "1.2.3.4"], "expected permit|deny"),
    (4, ["permit", "1.2.3.999"], "bogus address '1.2.3.999'"),
    (4, ["permit", "1.2.3.4", "255.0.0.999"], "bogus address '255.0.0.999'"),
    (4, ["permit", "2001:db8::/129"], "bogus address"),
    (3, ["permit", "country"], "expected country"),
    (3, ["permit"], "expected address"),
])
def test_bad_entries_are_refused_and_change_nothing(n: int, words: list[str], msg: str) -> None:
    a = Acls()
    with pytest.raises(AclError, match=msg):
        a.add(n, words)
    assert all(not entries for entries in a.lists)


def test_render_matches_c_write_format() -> None:
    a = Acls()
    assert a.add(1, ["permit", "127.0.0.1"]).render() == "permit 127.0.0.1 255.255.255.255"
    assert a.add(1, ["deny", "10.0.0.0", "255.0.0.0"]).render() == "deny 10.0.0.0 255.0.0.0"
    assert a.add(2, ["deny", "2001:db8::"]).render() == "deny 2001:db8::/128"
    assert a.add(3, ["deny", "country", "se"]).render() == "deny country SE"


def test_clear() -> None:
    a = Acls()
    a.add(5, ["deny", "127.0.0.1"])
    a.clear(5)
    assert check(a, 5, "127.0.0.1")
    with pytest.raises(AclError):
        a.clear(10)
