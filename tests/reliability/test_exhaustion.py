"""Exhaustion (issue 10): out of descriptors, at the -x and -c limits, 10,000 idle
connections, slow clients on the listen port (idle timeout) and on the control port.
pen must stop accepting without spinning, keep what it has, and recover when room frees."""
from __future__ import annotations

import socket
import subprocess
import time

import pytest
from support.procs import wait_for
from support.control import cmd, start_pen
from support.reliability import (FaultyBackend, cpu_over, fds, peak_rss_mib, raise_nofile,
                                 rss_mib, settle)


def echo_once(host: str, port: int, data: bytes = b"ping", timeout: float = 5.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(data)
            got = b""
            while len(got) < len(data):
                chunk = s.recv(100)
                if not chunk:
                    break
                got += chunk
            return got == data
    except OSError:
        return False


def hold(host: str, port: int, n: int, echo: bool = True) -> list[socket.socket]:
    """n connections, each proved end to end with one echo when `echo` (else just opened)."""
    out = []
    for _ in range(n):
        s = socket.create_connection((host, port), timeout=5)
        if echo:
            s.sendall(b"x")
            assert s.recv(1) == b"x"
        out.append(s)
    return out


def answered(s: socket.socket, timeout: float) -> bool:
    s.settimeout(timeout)
    try:
        s.sendall(b"y")
        return s.recv(1) == b"y"
    except OSError:
        return False


def test_out_of_descriptors_stops_accepting_and_recovers(tmp_path, summary) -> None:
    """RLIMIT_NOFILE 64: connections beyond what fits wait (no crash, no spin, no backend
    blacklisted for pen's own shortage), and are served once descriptors free."""
    be = FaultyBackend()
    pen, ctl = start_pen(tmp_path, be.addr, opts=["-x", "500", "-b", "30"])
    held: list[socket.socket] = []
    try:
        pid = pen.proc.pid
        base = fds(pid)
        subprocess.run(["prlimit", f"--pid={pid}", "--nofile=64:64"], check=True)
        fit = (64 - base) // 2
        held = hold(pen.host, pen.port, fit - 1)
        extra = [socket.create_connection((pen.host, pen.port), timeout=5) for _ in range(40)]
        served_extra = sum(answered(s, 0.2) for s in extra[:5])
        cpu = cpu_over(pid, 3.0)
        exhausted_fds = fds(pid)
        for s in held:
            s.close()
        held = []
        late = 0
        for s in extra:            # waited, now served (each closed after, to make room)
            late += answered(s, 10.0)
            s.close()
        fresh = echo_once(pen.host, pen.port)
        state = cmd(ctl, "server_state")
        after = settle(pid, base)
        summary(held=fit - 1, waiting=len(extra), served_while_full=served_extra,
                served_after=late, cpu_s_over_3s=f"{cpu:.2f}", fds_exhausted=exhausted_fds,
                fds_base=base, fds_after=after, limit=64)
        assert pen.proc.poll() is None
        assert cpu < 0.6, f"pen spun while out of descriptors: {cpu:.2f} s CPU in 3 s"
        # a client pen accepted but could not connect on for -t (3 s) is closed cleanly
        assert late >= len(extra) - 3, "clients that waited were not served after fds freed"
        assert fresh, "pen did not serve a new client after recovering"
        assert " state up " in state and " failures 0 " in state, state   # pen's own shortage
        assert after <= base
    finally:
        for s in held:
            s.close()
        pen.stop()
        be.kill()


def test_conn_max_and_clients_max_reached_and_recovered(tmp_path, summary) -> None:
    """-x 10: the 11th to 20th clients wait, then get served; -c 4 with 8 client addresses:
    the client table recycles its slots and everyone is served."""
    be = FaultyBackend()
    pen, ctl = start_pen(tmp_path, be.addr, opts=["-x", "10", "-c", "4"])
    held: list[socket.socket] = []
    try:
        held = hold(pen.host, pen.port, 10)
        waiting = [socket.create_connection((pen.host, pen.port), timeout=5) for _ in range(10)]
        early = sum(answered(s, 0.3) for s in waiting[:3])
        for s in held:
            s.close()
        late = sum(answered(s, 10.0) for s in waiting)
        for s in waiting:
            s.close()
        sources = [f"127.0.0.{i}" for i in range(2, 10)]
        served = 0
        for rnd in range(3):
            for src in sources:
                with socket.create_connection((pen.host, pen.port), timeout=5,
                                              source_address=(src, 0)) as s:
                    s.sendall(b"z")
                    served += s.recv(1) == b"z"
        summary(conn_max=10, waited=len(waiting), served_while_full=early, served_after=late,
                clients_max=4, client_addresses=len(sources), served_via_recycled_slots=served)
        assert early == 0 and late == 10
        assert served == 3 * len(sources)
        assert pen.proc.poll() is None
    finally:
        pen.stop()
        be.kill()


@pytest.mark.slow
def test_ten_thousand_idle_connections(tmp_path, summary) -> None:
    import resource
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    # pen needs two descriptors per connection; without CAP_SYS_RESOURCE its hard limit is
    # ours (20000 on this machine and CI), so that caps n just below 10,000 there
    n = min(10_000, (hard - 64) // 2)
    raise_nofile(min(hard, n + 2000))
    be = FaultyBackend()           # inherits this process's raised limit
    pen, ctl = start_pen(tmp_path, be.addr, opts=["-x", "12000", "-c", "12000", "-q", "4096"])
    socks: list[socket.socket] = []
    try:
        pid = pen.proc.pid
        subprocess.run(["prlimit", f"--pid={pid}", f"--nofile={hard}:{hard}"], check=True)
        base_fds, base_rss = fds(pid), rss_mib(pid)
        t0 = time.monotonic()
        for i in range(n):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex((pen.host, pen.port))
            socks.append(s)
            if i % 500 == 499:                 # let pen's accept queue drain
                wait_for(lambda: fds(pid) >= base_fds + 2 * (i + 1) - 200, 30, 0.02,
                         f"{i + 1} connections accepted")

        def all_up() -> bool:
            state = cmd(ctl, "server_state")
            return f" conn {n} pending 0 " in state
        wait_for(all_up, 60, 0.2, f"{n} connections established")
        opened = time.monotonic() - t0
        cpu = cpu_over(pid, 2.0)
        ok = echo_once(pen.host, pen.port)
        rss = rss_mib(pid)
        for s in socks:
            s.close()
        socks = []
        after = settle(pid, base_fds, timeout=30)
        summary(idle_connections=n, open_s=f"{opened:.1f}", fds_held=2 * n,
                idle_cpu_s_over_2s=f"{cpu:.2f}", rss_base_mib=f"{base_rss:.1f}",
                rss_held_mib=f"{rss:.1f}", kib_per_conn=f"{(rss - base_rss) * 1024 / n:.1f}",
                peak_rss_mib=f"{peak_rss_mib(pid):.1f}", fds_after=after, fds_base=base_fds)
        assert ok, "a new client was not served with 10,000 connections held"
        assert cpu < 0.5, f"pen busy while idle: {cpu:.2f} s CPU in 2 s"
        assert after <= base_fds, (after, base_fds)   # back to baseline: nothing leaked
    finally:
        for s in socks:
            s.close()
        pen.stop()
        be.kill()


def test_slowloris_on_the_listen_port_is_cut_by_idle_timeout(tmp_path, summary) -> None:
    """-x 20 all taken by clients that send nothing: idle_timeout 2 frees them, and a real
    client that was waiting is served."""
    be = FaultyBackend()
    pen, ctl = start_pen(tmp_path, be.addr, opts=["-x", "20", "-o", "idle_timeout 2"])
    try:
        silent = [socket.create_connection((pen.host, pen.port), timeout=5) for _ in range(20)]
        wait_for(lambda: " conn 20 " in cmd(ctl, "server_state"), 10, 0.05, "20 connections")
        t0 = time.monotonic()
        real = socket.create_connection((pen.host, pen.port), timeout=5)
        ok = answered(real, 10.0)
        waited = time.monotonic() - t0
        real.close()
        closed = 0
        for s in silent:
            s.settimeout(10)
            try:
                closed += s.recv(1) == b""
            except OSError:
                closed += 1
            s.close()
        summary(slow_clients=20, conn_max=20, idle_timeout_s=2, real_client_served=ok,
                real_client_waited_s=f"{waited:.1f}", slow_clients_closed=closed)
        assert ok and waited < 8
        assert closed == 20
    finally:
        pen.stop()
        be.kill()


def test_slowloris_on_the_control_port(tmp_path, summary) -> None:
    """200 silent control clients: traffic flows all along, each is cut after the control
    deadline, and penctl is answered again afterwards."""
    be = FaultyBackend()
    pen, ctl = start_pen(tmp_path, be.addr)
    silent: list[socket.socket] = []
    try:
        refused = 0
        for _ in range(200):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(5)
            try:
                s.connect(ctl)
            except OSError:         # the control backlog (64) is full: the kernel says EAGAIN
                refused += 1
                s.close()
                continue
            silent.append(s)
        t0 = time.monotonic()
        traffic = sum(echo_once(pen.host, pen.port) for _ in range(20))
        traffic_s = time.monotonic() - t0
        cut = 0
        for s in silent:
            s.settimeout(15)
            try:
                cut += s.recv(1) == b""
            except OSError:
                cut += 1
            s.close()
        silent = []
        back = wait_for(lambda: cmd(ctl, "pid").strip(), 10, 0.1, "control port answers")
        summary(silent_control_clients=200, connect_refused=refused, echoes_meanwhile=traffic,
                echoes_s=f"{traffic_s:.2f}", silent_cut=cut, control_back=bool(back))
        assert traffic == 20 and traffic_s < 5
        assert cut == 200 - refused
        assert int(back) == pen.proc.pid
    finally:
        for s in silent:
            s.close()
        pen.stop()
        be.kill()
