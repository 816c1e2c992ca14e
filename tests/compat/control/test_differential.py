"""C pen 0.34.1 and pen-ha configured identically answer every read-only command the same,
and each penctl works against the other's control port (penctl(1), docs/penctl.md)."""
from __future__ import annotations

import pytest
from support.control import cmd, penctl, start_pen

from pen.core.stats import parse_html
from support.procs import C_PEN, C_PENCTL, PENCTL

pytestmark = pytest.mark.compat
USAGE = "usage: penctl host:port command\n"

READ_ONLY = ["mode", "servers", "blacklist", "timeout", "tracking", "debug", "clients_max",
             "conn_max", "client_acl", "control_acl", "tarpit_acl", "log", "idle_timeout",
             "idlers", "recent", "connection 0", "connection 499", "connection 600",
             "close 600", "socket 5", "exit", "MODE", "foo bar", "no", "no such_thing",
             "tcp_fastclose", "source not-an-address", "block", "# comment", "", "web_stats"]
SETTERS = ["blacklist 10", "timeout 5", "tracking 60", "clients_max 4096", "conn_max 600",
           "client_acl 3", "control_acl 0", "tarpit_acl 2", "idle_timeout 30", "hash", "stubborn",
           "weight", "server 0 max 10 hard 20 weight 3 prio 2", "server 1 max 5 hard 8 weight 1 prio 1",
           "server 4 address 0.0.0.0 port 0", "acl 1 permit 127.0.0.1"]


@pytest.fixture
def pair(tmp_path, backends):
    if not C_PEN.exists():
        pytest.skip("C pen not installed")
    a, b, c = backends("name", "a", "b", "c")
    opts = ["-w", str(tmp_path / "ws.html")]
    cpen, cpath = start_pen(tmp_path, a.addr, b.addr, opts=opts, exe=C_PEN)
    ours, opath = start_pen(tmp_path, a.addr, b.addr, opts=opts)
    yield cpath, opath, c
    cpen.stop()
    ours.stop()


def test_read_only_commands_match_c_pen(pair) -> None:
    cpath, opath, c = pair
    for line in READ_ONLY:
        assert cmd(opath, line) == cmd(cpath, line), line
    for line in SETTERS + [f"server 2 address 127.0.0.1 port {c.port}"]:
        assert cmd(opath, line) == cmd(cpath, line), line
    for line in READ_ONLY:
        assert cmd(opath, line) == cmd(cpath, line), line
    theirs, ours = parse_html(cmd(cpath, "status")), parse_html(cmd(opath, "status"))
    for key in ("servers", "clients", "connections", "clients_max", "conn_max", "conn_used"):
        assert ours[key] == theirs[key], key


def test_c_penctl_against_pen_ha_and_ours_against_c_pen(pair) -> None:
    cpath, opath, _ = pair
    for args in (["servers"], ["mode"], ["tarpit_acl"], ["server", "-1", "port", "5"],
                 ["connection", "0"], ["MODE"], ["blacklist", "7"], ["blacklist"]):
        c_on_ours = penctl(opath, *args, exe=C_PENCTL)
        ours_on_ours = penctl(opath, *args, exe=PENCTL)
        ours_on_c = penctl(cpath, *args, exe=PENCTL)
        c_on_c = penctl(cpath, *args, exe=C_PENCTL)
        assert c_on_ours.stdout == ours_on_ours.stdout == ours_on_c.stdout == c_on_c.stdout, args
        # C penctl exits 0 whatever pen answers; ours exits 1 on a refusal, from either pen
        assert c_on_ours.returncode == c_on_c.returncode == 0, args
        assert ours_on_ours.returncode == ours_on_c.returncode, args
    # the error paths of the two clients; a usage error exits 2 where C penctl exited 0
    for args in ([], ["x"]):
        mine, theirs = penctl(*args, exe=PENCTL), penctl(*args, exe=C_PENCTL)
        assert (theirs.returncode, theirs.stdout) == (0, USAGE), args
        assert (mine.returncode, mine.stderr) == (2, USAGE), args
    for args in (["127.0.0.1", "pid"], ["/nonexistent/ctl.sock", "pid"]):
        mine, theirs = penctl(*args, exe=PENCTL), penctl(*args, exe=C_PENCTL)
        assert (mine.returncode, mine.stdout, mine.stderr) == \
            (theirs.returncode, theirs.stdout, theirs.stderr), args


def test_penctl_own_messages_as_c_penctl(pair) -> None:
    """C penctl's messages for what fails before pen answers, and its line limit: the words
    joined with spaces, at most 1021 bytes, checked after it has connected."""
    cpath, opath, _ = pair
    for args in (["no.such.host.invalid:1", "pid"], ["127.0.0.1:no-such-service", "pid"],
                 ["127.0.0.1:1", "x" * 2000], ["no.such.host.invalid:1", "x" * 2000]):
        mine, theirs = penctl(*args, exe=PENCTL), penctl(*args, exe=C_PENCTL)
        assert (mine.returncode, mine.stdout, mine.stderr) == \
            (theirs.returncode, theirs.stdout, theirs.stderr), args
    for words in (["x" * 1021], ["x" * 1022], ["a", "x" * 1019], ["a", "b", "x" * 1018]):
        for path in (cpath, opath):
            mine, theirs = penctl(path, *words, exe=PENCTL), penctl(path, *words, exe=C_PENCTL)
            assert (mine.stdout, mine.stderr) == (theirs.stdout, theirs.stderr), \
                (path, len(" ".join(words)))
            if theirs.stderr:                # refused by penctl itself: exit 1 in both
                assert mine.returncode == theirs.returncode == 1
