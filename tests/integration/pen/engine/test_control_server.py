"""The control port in-process (pen/engine/control_server.py): a command and its reply, and a
silent client closed at its deadline by the fake clock, while the balancer keeps serving."""
from __future__ import annotations

import socket
from pathlib import Path

from pen.engine.balancer import Balancer
from pen.engine.control_server import CONTROL_DEADLINE, ControlServer, open_control
from support.engine import EchoBackend, FakeClock, Reader, balancer, client, control_client, drive


def with_control(tmp_path: Path) -> tuple[FakeClock, Balancer, EchoBackend, str, ControlServer]:
    """A balancer over one echo server, with its control port on a unix socket."""
    clock = FakeClock()
    bal = balancer(clock=clock)
    echo = EchoBackend(bal.reactor)
    bal.apply_server_spec(0, echo.spec)
    path = str(tmp_path / "ctl.sock")
    return clock, bal, echo, path, open_control(bal, path)


def test_a_command_gets_its_reply_and_a_silent_client_its_deadline(tmp_path: Path) -> None:
    clock, bal, echo, path, server = with_control(tmp_path)
    asker = control_client(path)
    asker.sendall(b"blacklist\n")
    reply = Reader(asker)
    drive(bal, reply.poll, "the reply to `blacklist`")
    assert reply.data == b"30\n"
    silent = control_client(path)
    quiet = Reader(silent)
    for _ in range(10):
        bal.reactor.run_once(0.005)
    assert not quiet.poll()                      # no real time counts against it
    c = client(bal)                              # traffic flows while it waits
    c.sendall(b"data")
    r = Reader(c)
    drive(bal, lambda: r.poll() or r.data == b"data", "traffic beside a silent control client")
    clock.advance(CONTROL_DEADLINE + 0.1)
    drive(bal, quiet.poll, "the silent control client closed at its deadline")
    assert quiet.data == b""
    server.close()
    for s in (asker, silent, c):
        s.close()


def test_a_host_name_is_looked_up_off_the_loop(tmp_path: Path, monkeypatch) -> None:
    """`server N address NAME`: while a slow lookup runs, traffic flows and other control
    commands are answered; then the line runs with the address found."""
    import threading

    import pen.resolve
    real = socket.getaddrinfo
    release = threading.Event()

    def slow_getaddrinfo(host, *args, **kw):
        if host == "backend.test":               # RFC 6761 .test: never a real name
            assert threading.current_thread() is not threading.main_thread()
            release.wait(5)
            return real("127.0.0.1", *args, **kw)
        if host == "nowhere.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kw)

    monkeypatch.setattr(pen.resolve.socket, "getaddrinfo", slow_getaddrinfo)
    clock, bal, echo, path, server = with_control(tmp_path)
    naming = control_client(path)
    naming.sendall(f"server 1 address backend.test port {echo.port}\n".encode())
    named = Reader(naming)
    for _ in range(10):
        bal.reactor.run_once(0.005)
    asker = control_client(path)                # answered while the lookup waits
    asker.sendall(b"blacklist\n")
    reply = Reader(asker)
    drive(bal, reply.poll, "another command answered during the lookup")
    assert reply.data == b"30\n" and not named.poll()
    c = client(bal)
    c.sendall(b"meanwhile")
    r = Reader(c)
    drive(bal, lambda: r.poll() or r.data == b"meanwhile", "traffic during the lookup")
    release.set()
    drive(bal, named.poll, "the server line applied once the lookup is in")
    assert named.data == b""
    srv = bal.state.servers.get(1)
    assert (srv.host, srv.port) == ("127.0.0.1", echo.port)
    failing = control_client(path)
    failing.sendall(b"server 2 address nowhere.invalid port 80\n")
    bad = Reader(failing)
    drive(bal, bad.poll, "the failed lookup answered")
    assert bad.data.startswith(b"error: server 2 address: unknown or invalid address")
    assert bal.state.servers.get(2) is None or not bal.state.servers.get(2).configured
    server.close()
    for s in (naming, asker, c, failing):
        s.close()
