"""Start real processes for tests, with bounded waits and certain cleanup."""
from __future__ import annotations

import os
import random
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
PEN = BIN / "pen"
PENCTL = BIN / "penctl"
C_PEN = Path("/usr/bin/pen")
C_PENCTL = Path("/usr/bin/penctl")
TESTS = Path(__file__).resolve().parent.parent


def wait_for(predicate, timeout: float = 10.0, interval: float | str = 0.01,
             what: str = "condition"):
    """Poll `predicate` until it returns a truthy value or the deadline passes.  The third
    argument may be the interval or, as some callers write it, the description."""
    if isinstance(interval, str):
        what, interval = interval, 0.01
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def start_ready(argv: list[str], what: str, timeout: float = 10.0,
                env: dict | None = None) -> tuple[subprocess.Popen, int]:
    """Start a helper process that prints `READY <port>` once it serves; (process, port)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True,
                            env=env or dict(os.environ, PYTHONPATH=str(TESTS)))
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline() if ready else ""
    if not line.startswith("READY"):
        stop_process(proc)
        raise RuntimeError(f"{what} did not start: {line!r}")
    return proc, int(line.split()[1])


def stop_process(proc: subprocess.Popen, timeout: float = 10.0, kill: bool = False,
                 strict: bool = False) -> int:
    """Terminate (or kill), wait with a bound, escalate, close its pipes; the exit status.
    `strict`: a process that ignores SIGTERM (it had to be killed) fails the test."""
    if proc.poll() is None:
        if kill:
            proc.kill()
        else:
            proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
            if strict:
                raise AssertionError(f"{proc.args} ignored SIGTERM") from None
    for f in (proc.stdin, proc.stdout, proc.stderr):
        if f:
            f.close()
    return proc.returncode


class Backend:
    """A backend process (support/backend.py) on 127.0.0.1, port 0."""

    def __init__(self, mode: str, name: str, *extra: str) -> None:
        self.mode, self.name = mode, name
        self.proc, self.port = start_ready(
            [sys.executable, "-m", "support.backend", mode, name, *extra], f"backend {name}")
        self.addr = f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop_process(self.proc, kill=True)

    def pause(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)


def listening(port: int) -> bool:
    """Is something listening on TCP `port`? Read from /proc, so no connection is made
    (a probe connection would itself be balanced and skew what a test measures)."""
    want = f":{port:04X} "
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[1].endswith(want.strip()) and fields[3] == "0A":
                        return True
        except FileNotFoundError:
            continue
    return False


def dead_port() -> int:
    """A port nothing listens on (bound then closed; the kernel refuses connects to it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_handed_out: set[int] = set()


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port free on every address now, for a program that must be told a port number (a C
    program, a `-C HOST:PORT`).  Drawn at random from below the kernel's ephemeral range: a
    port the kernel picked for bind(0) is the very kind it hands the next outgoing connection
    of any test running beside this one, which then holds it before the program binds it."""
    top = _ephemeral_low()
    bottom = max(1024, top - 12000)
    for _ in range(200):
        port = random.randrange(bottom, top)
        if port in _handed_out:
            continue
        try:
            with socket.socket(socket.AF_INET, kind) as s:
                s.bind(("0.0.0.0", port))
        except OSError:
            continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port in {bottom}-{top - 1}")


class Pen:
    """Our pen (or, with exe=C_PEN, Debian's) in the foreground.

    For ours, the listening socket is made here on port 0 and handed over as systemd's
    LISTEN_FDS (fd 3), and readiness is pen's sd_notify READY=1: no fixed port, no sleep.
    `Pen(*server_specs, opts=[...])`.
    """

    def __init__(self, *server_specs: str, opts: list[str] | tuple[str, ...] = (),
                 udp: bool = False, host: str = "127.0.0.1", listen: str | None = None,
                 exe: Path = PEN, ready_timeout: float = 10.0, env: dict | None = None,
                 workers: int | None = None, reuseport: bool = False) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="pen-test-")
        self.dir = Path(self.tmp.name)
        self.host = host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.listener: socket.socket | None = None
        if listen is None:
            self.listener = socket.socket(family, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
            if reuseport:       # so pen's workers can open one socket each beside it
                self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            self.listener.bind((host, 0))
            if not udp:
                self.listener.listen(1024)
            self.port = self.listener.getsockname()[1]
            listen = f"[{host}]:{self.port}" if family == socket.AF_INET6 else f"{host}:{self.port}"
        else:
            self.port = int(listen.rsplit(":", 1)[1]) if "/" not in listen else 0
        self.listen = listen
        notify_path = str(self.dir / "notify.sock")
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(notify_path)
        child_env = dict(os.environ, NOTIFY_SOCKET=notify_path, **(env or {}))
        child_env.pop("LISTEN_PID", None)
        child_env.pop("LISTEN_FDS", None)
        keep: tuple[int, ...] = ()
        lfd = -1
        if self.listener is not None:
            child_env["LISTEN_FDS"] = "1"
            lfd = self.listener.fileno()
            keep = (lfd, 3)

        def preexec() -> None:
            if lfd >= 0:
                os.dup2(lfd, 3)

        tree = os.environ.get("PEN_TEST_TREE")
        if exe == PEN and tree:       # scripts/compile.sh's tree first: the compiled hot path
            child_env["PYTHONPATH"] = tree
        if workers is None:
            workers = int(os.environ.get("PEN_TEST_WORKERS", "1"))
        if exe == PEN and workers > 1:
            opts = ["--workers", str(workers), *opts]
        self.workers = workers if exe == PEN else 1
        self.argv = [str(exe), "-f", *(["-U"] if udp else []), *opts, listen, *server_specs]
        self.stderr_path = self.dir / "stderr"
        self.stderr = open(self.stderr_path, "w+")
        self.proc = subprocess.Popen(self.argv, env=child_env, stdout=subprocess.PIPE,
                                     stderr=self.stderr, pass_fds=keep, preexec_fn=preexec)
        if exe == PEN:
            self._await_ready(ready_timeout)

    def _await_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pen exited with {self.proc.returncode}: {self.errors()}")
            ready, _, _ = select.select([self.notify], [], [], 0.05)
            if ready and b"READY=1" in self.notify.recv(4096):
                return
        self.stop()
        raise TimeoutError(f"pen not ready after {timeout}s: {self.errors()}")

    def errors(self) -> str:
        self.stderr.flush()
        return self.stderr_path.read_text()

    def connect(self, timeout: float = 5.0, source: str | None = None) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(timeout)
        if source:
            s.bind((source, 0))
        s.connect((self.host, self.port))
        return s

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def children(self) -> list[int]:
        """The pids of pen's worker processes (--workers)."""
        out = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        fields = f.read().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) == self.proc.pid and fields[0] != "Z":
                    out.append(int(entry))
        return sorted(out)

    def stop(self) -> int:
        stop_process(self.proc)
        self.stderr.close()
        if self.listener is not None:
            self.listener.close()
        self.notify.close()
        self.tmp.cleanup()
        return self.proc.returncode

    def __enter__(self) -> "Pen":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def fetch_name(pen: Pen, source: str | None = None, timeout: float = 5.0) -> str:
    """One connection through pen to a `name` backend: which backend answered ('FAIL' if none)."""
    try:
        with pen.connect(timeout=timeout, source=source) as s:
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(100)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return "FAIL"
    if not data.startswith(b"served-by "):
        return "FAIL"
    return data.split()[1].decode()
