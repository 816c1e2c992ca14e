"""systemd socket activation with named descriptors (sd_listen_fds(3), FileDescriptorName=)."""
from __future__ import annotations

import os
import select
import socket
import subprocess

from support.control import cmd

from support.procs import PEN, fetch_name, stop_process, wait_for


class Activated:
    """pen started as systemd would: fds 3.. with LISTEN_FDS and LISTEN_FDNAMES."""

    def __init__(self, tmp, socks: list[socket.socket], names: str, args: list[str]) -> None:
        notify_path = str(tmp / "notify.sock")
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(notify_path)
        env = dict(os.environ, NOTIFY_SOCKET=notify_path, LISTEN_FDS=str(len(socks)),
                   LISTEN_FDNAMES=names)
        env.pop("LISTEN_PID", None)
        fds = [s.fileno() for s in socks]

        def preexec() -> None:
            moved = [os.dup(fd) for fd in fds]          # out of the way of 3, 4, ...
            for i, fd in enumerate(moved):
                os.dup2(fd, 3 + i)
                os.set_inheritable(3 + i, True)

        keep = (*fds, *range(3, 3 + len(fds)))         # the dup2 targets survive close_fds
        self.proc = subprocess.Popen([str(PEN), "-f", *args], env=env, pass_fds=keep,
                                     preexec_fn=preexec, stderr=subprocess.PIPE)
        ready, _, _ = select.select([self.notify], [], [], 10)
        assert ready and b"READY=1" in self.notify.recv(4096), self.proc.stderr.read1(4000)

    def stop(self) -> None:
        stop_process(self.proc)
        self.notify.close()


def test_named_listen_and_control_sockets_are_adopted(tmp_path, backends) -> None:
    a, b = backends("name", "a", "b")
    listen = socket.socket()
    listen.bind(("127.0.0.1", 0))
    listen.listen(64)
    port = listen.getsockname()[1]
    ctl_path = str(tmp_path / "ctl.sock")
    control = socket.socket(socket.AF_UNIX)
    control.bind(ctl_path)
    control.listen(8)
    cfg = tmp_path / "pen.cfg"
    cfg.write_text(f"server 0 address 127.0.0.1 port {a.port}\n"
                   f"server 1 address 127.0.0.1 port {b.port}\n")
    # the control socket first: order does not matter, the names do
    pen = Activated(tmp_path, [control, listen], "control:listen", ["-F", str(cfg)])
    try:
        assert cmd(ctl_path, "listen") == f"127.0.0.1:{port}\n"
        assert cmd(ctl_path, "control") == f"{ctl_path}\n"
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            assert s.makefile("rb").readline().split()[1] in (b"a", b"b")
        wait_for(lambda: " conn 0 " in cmd(ctl_path, "servers"), 5, what="servers reply")
    finally:
        pen.stop()
        listen.close()
        control.close()


def test_without_names_fd_3_is_the_listener_as_before(tmp_path, backends) -> None:
    (a,) = backends("name", "a")
    listen = socket.socket()
    listen.bind(("127.0.0.1", 0))
    listen.listen(64)
    port = listen.getsockname()[1]
    pen = Activated(tmp_path, [listen], "", [f"127.0.0.1:{port}", a.addr])

    class Target:
        host = "127.0.0.1"

        def connect(self, timeout: float = 5.0, source: str | None = None) -> socket.socket:
            return socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        assert fetch_name(Target()) == "a"
    finally:
        pen.stop()
        listen.close()
