"""Start-up in-process (pen/cli.py's options -> pen/engine/daemon.py `start` -> startup.py):
command-line servers, then -o, then the -F file (the file wins: docs/configuration.md
"Start-up order"), replies of start-up commands on stdout, the listener and the control port
opened, and errors that stop pen before it serves; SIGHUP's all-or-nothing re-read.

daemon.start is handed a fake clock, as the other engine tests; none of these waits for a
timeout.  A slow name lookup is a
patched getaddrinfo that waits on an Event (nothing here reaches a DNS server).
"""
from __future__ import annotations

import socket
from pathlib import Path

import pytest

from pen import cli
from pen.engine import daemon, startup
from pen.engine.balancer import Balancer
from pen.settings import Settings
from support.engine import EchoBackend, FakeClock, Reader, after_test, client, control_client, drive, shut
from support.procs import free_port


def listening_socket() -> socket.socket:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    return s


def settings_from(argv: list[str]) -> Settings:
    """pen's own option parser, as `pen ARGV` runs it."""
    ctx = cli.command.make_context("pen", argv)
    params = dict(ctx.params)
    return cli.build_settings(params.pop("args"), params)


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch):
    """daemon.start for settings; the Balancer is shut down after the test."""
    monkeypatch.delenv("LISTEN_FDS", raising=False)      # no socket activation here

    def start(settings: Settings) -> Balancer:
        bal, workers = daemon.start(settings, FakeClock())
        assert workers is None
        after_test(lambda: shut(bal))
        return bal

    return start


def ask(bal: Balancer, path: str, command: bytes) -> bytes:
    c = control_client(path)
    c.sendall(command)
    r = Reader(c)
    drive(bal, r.poll, f"the reply to {command!r}")
    c.close()
    return r.data


def test_options_become_a_serving_balancer_with_the_file_refining_them(
        tmp_path: Path, started, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = listening_socket(), listening_socket()
    cfg = tmp_path / "pen.cfg"
    cfg.write_text("# refines the command line\nserver 1 weight 7\nblacklist 40\n")
    control = str(tmp_path / "ctl")
    settings = settings_from(["-f", "-r", "-W", "-o", "blacklist 20", "-F", str(cfg),
                              "-C", control, f"127.0.0.1:{free_port()}",
                              f"127.0.0.1:{a.getsockname()[1]}", f"127.0.0.1:{b.getsockname()[1]}"])
    bal = started(settings)
    assert capsys.readouterr().out == "20\n40\n"     # -o first, then the file
    st = bal.state
    assert st.settings.blacklist == 40
    assert [(s.port, s.weight) for s in st.servers.servers[:2]] == \
        [(a.getsockname()[1], 0), (b.getsockname()[1], 7)]
    assert bal.listen_sock is not None and bal.listen_text == settings.listen
    assert ask(bal, control, b"blacklist\n") == b"40\n"

    backends = [EchoBackend(bal.reactor, a), EchoBackend(bal.reactor, b)]
    assert bal.health is not None
    bal.health.start()                                # as daemon.run does before the loop
    c = client(bal)
    c.sendall(b"through pen")
    r = Reader(c)
    drive(bal, lambda: r.poll() or r.data == b"through pen", "a client served")
    c.close()
    assert backends[1].accepted == 1 and backends[0].accepted == 0   # -W: weight 7 against 0


def test_a_bad_o_command_stops_start_up_and_says_which(tmp_path: Path, started) -> None:
    s = Settings(foreground=True, listen=f"127.0.0.1:{free_port()}", server_specs=["127.0.0.1:9"],
                 commands=["blacklist 5", "server 0 frobnicate 1"])
    with pytest.raises(daemon.StartupError, match=r"^-o 'server 0 frobnicate 1': "):
        started(s)


def test_a_bad_file_line_stops_start_up_naming_file_and_line(tmp_path: Path, started) -> None:
    cfg = tmp_path / "bad.cfg"
    cfg.write_text("blacklist 5\nno_such_command\n")
    s = Settings(foreground=True, listen=f"127.0.0.1:{free_port()}", server_specs=["127.0.0.1:9"],
                 config_file=str(cfg))
    with pytest.raises(daemon.StartupError, match=rf"^{cfg}:2: "):
        started(s)


def test_no_listen_address_anywhere_stops_start_up(started) -> None:
    with pytest.raises(daemon.StartupError, match="no listen address"):
        started(Settings(foreground=True, server_specs=["127.0.0.1:9"]))


def test_sighup_applies_a_file_all_or_nothing(tmp_path: Path, started,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "pen.cfg"
    cfg.write_text("blacklist 40\n")
    bal = started(Settings(foreground=True, listen=f"127.0.0.1:{free_port()}",
                           server_specs=["127.0.0.1:9"], config_file=str(cfg)))
    cfg.write_text("blacklist 50\nserver 0 weight 3\nno_such_command\n")
    assert startup.reload_config(bal) is False
    assert bal.state.settings.blacklist == 40 and bal.state.servers.get(0).weight == 0
    cfg.write_text("blacklist 50\nserver 0 weight 3\n")
    assert startup.reload_config(bal) is True
    assert bal.state.settings.blacklist == 50 and bal.state.servers.get(0).weight == 3


def test_sighup_looks_names_up_off_the_loop(tmp_path: Path, started, monkeypatch: pytest.MonkeyPatch,
                                            caplog: pytest.LogCaptureFixture) -> None:
    """A `server N address NAME` line in the re-read file: the loop serves while the name is
    looked up, `done` comes once the file is applied; a SIGHUP meanwhile re-reads once more
    (the newest file wins); a name that cannot be found refuses the whole file."""
    import threading

    import pen.resolve
    real = socket.getaddrinfo
    release = threading.Event()

    def slow_getaddrinfo(host, *args, **kw):
        if host in ("backend.test", "second.test"):      # RFC 6761 .test: never a real name
            assert threading.current_thread() is not threading.main_thread()
            release.wait(5)
            return real("127.0.0.1" if host == "backend.test" else "127.0.0.2", *args, **kw)
        if host == "nowhere.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kw)

    cfg = tmp_path / "pen.cfg"
    cfg.write_text("blacklist 40\n")
    control = str(tmp_path / "ctl")
    bal = started(Settings(foreground=True, listen=f"127.0.0.1:{free_port()}", control=control,
                           server_specs=["127.0.0.1:9"], config_file=str(cfg)))
    monkeypatch.setattr(pen.resolve.socket, "getaddrinfo", slow_getaddrinfo)
    done: list[int] = []
    cfg.write_text("blacklist 50\nserver 1 address backend.test port 8080\n")
    startup.on_sighup(bal, lambda: done.append(1))
    assert ask(bal, control, b"blacklist\n") == b"40\n" and not done   # served; nothing applied yet
    cfg.write_text("blacklist 60\nserver 1 address second.test port 8080\n")
    startup.on_sighup(bal, lambda: done.append(2))     # comes while the first lookup waits
    release.set()
    drive(bal, lambda: done, "the re-read file applied once its names are in")
    assert done == [1]                    # one `done`, after the newest file is applied
    srv = bal.state.servers.get(1)
    assert bal.state.settings.blacklist == 60 and (srv.host, srv.port) == ("127.0.0.2", 8080)

    cfg.write_text("blacklist 70\nserver 2 address nowhere.invalid port 80\n")
    startup.on_sighup(bal, lambda: done.append(3))
    drive(bal, lambda: len(done) == 2, "the file with an unknown name refused")
    assert bal.state.settings.blacklist == 60
    assert bal.state.servers.get(2) is None or not bal.state.servers.get(2).configured
    assert f"SIGHUP: {cfg}:2: server 2 address: unknown or invalid address" in caplog.text
