"""The lab's stand-in for systemd on one node: it runs the node's daemons as their units do.

    labsup.py NODE_DIR        (inside the node's namespace; `lab start` runs it)

NODE_DIR/units.json lists the units: argv, environment, `type` (notify: ready on READY=1 on
$NOTIFY_SOCKET; simple: ready when started), `watchdog` (WatchdogSec: a notify unit that sends
no WATCHDOG=1 for that long gets SIGABRT as from systemd, and SIGKILL a second later, which
also ends a SIGSTOPped process), `stop_post` (ExecStopPost, run however the process ended), `restart`
(always | on-failure) and `restart_sec`.  Commands arrive on NODE_DIR/sup.sock, one line per
connection, as `systemctl` would give them: start|stop|restart|reload|status UNIT, kill UNIT
SIGNAL, exit (stop everything, then leave).  Each unit's pid is in NODE_DIR/UNIT.lab-pid while
it runs, its output in UNIT.out, and this supervisor's own log in sup.log.  Stdlib only.
"""
from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

STOP_TIMEOUT = 15.0          # TimeoutStopSec
READY_TIMEOUT = 30.0


@dataclass
class Unit:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    type: str = "simple"
    watchdog: float = 0.0
    stop_post: list[str] | None = None
    restart: str = "always"
    restart_sec: float = 1.0
    proc: subprocess.Popen[bytes] | None = None
    notify: socket.socket | None = None
    state: str = "inactive"           # activating, active, deactivating, inactive, failed
    wanted: bool = False              # started and not stopped by a command
    ready_by: float = 0.0
    watchdog_at: float | None = None
    kill_at: float | None = None
    restart_at: float | None = None
    restarts: int = 0
    last_exit: str = ""
    start_again: bool = False         # `restart`: start as soon as it has stopped


class Supervisor:
    def __init__(self, node_dir: Path) -> None:
        self.dir = node_dir
        spec = json.loads((node_dir / "units.json").read_text())
        self.units = {u["name"]: Unit(**u) for u in spec["units"]}
        self.order = [u["name"] for u in spec["units"]]
        self.log_fh = open(node_dir / "sup.log", "a", buffering=1)
        self.ctl_path = node_dir / "sup.sock"
        self.ctl_path.unlink(missing_ok=True)
        self.ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.ctl.bind(str(self.ctl_path))
        self.ctl.listen(16)
        self.exiting = False

    def log(self, text: str) -> None:
        self.log_fh.write(f"{time.time():.3f} {text}\n")

    # -- unit lifecycle ----------------------------------------------------------------
    def start(self, u: Unit) -> None:
        if u.proc is not None:
            return
        env = {**os.environ, **u.env}
        env.pop("NOTIFY_SOCKET", None)
        if u.type == "notify":
            path = self.dir / f"{u.name}.notify"
            path.unlink(missing_ok=True)
            u.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            u.notify.bind(str(path))
            env["NOTIFY_SOCKET"] = str(path)
        if u.watchdog:
            env["WATCHDOG_USEC"] = str(int(u.watchdog * 1e6))     # no WATCHDOG_PID: the pid is the child's
        out = open(self.dir / f"{u.name}.out", "ab")
        u.proc = subprocess.Popen(u.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env,
                                  start_new_session=True)
        out.close()
        (self.dir / f"{u.name}.lab-pid").write_text(f"{u.proc.pid}\n")
        u.wanted, u.restart_at, u.kill_at = True, None, None
        u.state = "activating" if u.type == "notify" else "active"
        u.ready_by = time.monotonic() + READY_TIMEOUT
        u.watchdog_at = None              # armed by READY=1 (simple units: at once)
        if u.watchdog and u.type != "notify":
            u.watchdog_at = time.monotonic() + u.watchdog
        self.log(f"{u.name}: started pid {u.proc.pid}")

    def stop(self, u: Unit, again: bool = False) -> None:
        u.wanted = False
        u.start_again = again
        u.restart_at = None
        if u.proc is None:
            if u.state != "failed":
                u.state = "inactive"
            if again:
                self.start(u)
            return
        if u.state != "deactivating":
            self._signal(u, signal.SIGTERM)
            self._signal(u, signal.SIGCONT)        # systemd does too: a stopped process must see it
            u.state = "deactivating"
            u.kill_at = time.monotonic() + STOP_TIMEOUT

    def _signal(self, u: Unit, sig: int) -> None:
        if u.proc is not None and u.proc.poll() is None:
            try:
                os.kill(u.proc.pid, sig)
            except ProcessLookupError:
                pass

    def reaped(self, u: Unit, code: int) -> None:
        assert u.proc is not None
        requested = u.state == "deactivating"
        u.last_exit = f"signal {-code}" if code < 0 else f"exit {code}"
        self.log(f"{u.name}: pid {u.proc.pid} ended ({u.last_exit}){'' if requested else ', unexpectedly'}")
        u.proc = None
        (self.dir / f"{u.name}.lab-pid").unlink(missing_ok=True)
        if u.notify is not None:
            u.notify.close()
            u.notify = None
        u.watchdog_at = u.kill_at = None
        if u.stop_post:
            try:
                res = subprocess.run(u.stop_post, capture_output=True, text=True, timeout=10)
                self.log(f"{u.name}: ExecStopPost: {(res.stdout + res.stderr).strip()}")
            except (OSError, subprocess.TimeoutExpired) as e:
                self.log(f"{u.name}: ExecStopPost failed: {e}")
        failed = code != 0 and code != -signal.SIGTERM
        again = not requested and u.wanted and (u.restart == "always" or failed)
        u.state = "failed" if failed and not requested else "inactive"
        if requested and u.start_again:
            u.start_again = False
            self.start(u)
        elif again:
            u.state = "activating"
            u.restart_at = time.monotonic() + u.restart_sec
            u.restarts += 1

    # -- the loop ----------------------------------------------------------------------------
    def command(self, line: str) -> str:
        words = line.split()
        if not words:
            return "error: empty command\n"
        verb, names = words[0], [w.removesuffix(".service") for w in words[1:]]
        if verb == "exit":
            self.exiting = True
            for name in reversed(self.order):
                self.stop(self.units[name])
            return "ok\n"
        if verb == "status" and not names:
            names = self.order
        if verb == "kill":
            names, sig = names[:-1], names[-1] if names else ""
        unknown = [n for n in names if n not in self.units]
        if unknown or not names:
            return f"error: unknown unit {' '.join(unknown) or '(none)'}: one of {' '.join(self.order)}\n"
        out = []
        for n in names:
            u = self.units[n]
            if verb == "start":
                self.start(u)
            elif verb == "stop":
                self.stop(u)
            elif verb == "restart":
                self.stop(u, again=True)
            elif verb == "reload":
                self._signal(u, signal.SIGHUP)
            elif verb == "kill":
                signum = getattr(signal, sig if sig.startswith("SIG") else f"SIG{sig}", None)
                if not isinstance(signum, int):
                    return f"error: unknown signal {sig}\n"
                if u.proc is not None and u.proc.poll() is None:
                    try:                                # the unit's processes, as its cgroup
                        os.killpg(u.proc.pid, signum)
                    except ProcessLookupError:
                        pass
            elif verb != "status":
                return f"error: unknown command {verb}\n"
            pid = u.proc.pid if u.proc else "-"
            out.append(f"{n} {u.state} pid {pid} restarts {u.restarts} last {u.last_exit or '-'}\n")
        return "".join(out)

    def run(self) -> int:
        for name in self.order:
            self.start(self.units[name])
        while True:
            self._poll(0.02)
            self._poll(0)        # what arrived while we were not running counts before any deadline
            now = time.monotonic()
            for u in self.units.values():
                if u.proc is not None:
                    code = u.proc.poll()
                    if code is not None:
                        self.reaped(u, code)
                        continue
                    if u.watchdog_at is not None and now > u.watchdog_at and u.state != "deactivating":
                        # systemd: SIGABRT (a traceback from Python's faulthandler), SIGKILL soon after
                        self.log(f"{u.name}: watchdog timeout ({u.watchdog:g} s without WATCHDOG=1): SIGABRT")
                        self._signal(u, signal.SIGABRT)
                        u.watchdog_at = None
                        u.kill_at = now + 1.0
                    if u.kill_at is not None and now > u.kill_at:
                        self.log(f"{u.name}: still running: SIGKILL")
                        self._signal(u, signal.SIGKILL)
                        u.kill_at = None
                    if u.state == "activating" and now > u.ready_by:
                        self.log(f"{u.name}: no READY=1 in {READY_TIMEOUT:g} s: SIGKILL")
                        self._signal(u, signal.SIGKILL)
                elif u.restart_at is not None and now >= u.restart_at and not self.exiting:
                    self.start(u)
            if self.exiting and all(u.proc is None for u in self.units.values()):
                self.ctl_path.unlink(missing_ok=True)
                self.log("exit")
                return 0

    def _poll(self, timeout: float) -> None:
        socks = [self.ctl] + [u.notify for u in self.units.values() if u.notify is not None]
        readable, _, _ = select.select(socks, [], [], timeout)
        for s in readable:
            if s is self.ctl:
                self._serve()
            else:
                while self._notified(s):
                    pass

    def _serve(self) -> None:
        conn, _ = self.ctl.accept()
        with conn:
            conn.settimeout(2)
            try:
                line = conn.recv(4096).decode("utf-8", "replace").strip()
                conn.sendall(self.command(line).encode())
            except OSError:
                pass

    def _notified(self, s: socket.socket) -> bool:
        """One datagram from a unit, if one is waiting (False when none is)."""
        u = next(u for u in self.units.values() if u.notify is s)
        try:
            data = s.recv(4096, socket.MSG_DONTWAIT).decode("utf-8", "replace")
        except OSError:
            return False
        fields = data.split("\n")
        if "READY=1" in fields and u.state == "activating":
            u.state = "active"
            self.log(f"{u.name}: ready")
            if u.watchdog:
                u.watchdog_at = time.monotonic() + u.watchdog
        if "WATCHDOG=1" in fields and u.watchdog:
            u.watchdog_at = time.monotonic() + u.watchdog
        return True


def ask(node_dir: Path, line: str, timeout: float = 5.0) -> str:
    """One command to a node's supervisor (the lab and its systemctl stand-in use this)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(node_dir / "sup.sock"))
        s.sendall(line.encode())
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out.decode()


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)       # `lab stop` says `exit`; a SIGKILL is a crash
    sys.exit(Supervisor(Path(sys.argv[1])).run())
