"""`--workers 2`: one listener, two processes, pen's semantics kept (docs/architecture.md)."""
from __future__ import annotations

import os
import signal
import socket
import time

from support.control import cmd, start_pen, wait_control

from support.procs import Pen, wait_for


def served_by(s: socket.socket) -> str:
    line = s.makefile("rb").readline()
    return line.split()[1].decode() if line.startswith(b"served-by ") else "FAIL"


def holders(pen: Pen, port: int) -> dict[int, int]:
    """worker pid -> how many of its sockets are connections accepted on `port`."""
    out = {}
    inodes = established_inodes(port)
    for pid in pen.children():
        n = 0
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                n += 1
        out[pid] = n
    return out


def established_inodes(port: int) -> set[str]:
    want = f":{port:04X}"
    out = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[1].endswith(want) and fields[3] == "01":
                out.add(fields[9])
    return out


def conn_sum(path: str) -> int:
    return sum(int(line.split(" conn ")[1].split()[0]) for line in cmd(path, "servers").splitlines())


def test_one_client_is_spread_over_both_workers_and_keeps_its_server(backends) -> None:
    a, b = backends("name", "a", "b")
    pen = Pen(a.addr, b.addr, opts=["--workers", "2"], reuseport=True)
    held = []
    try:
        wait_for(lambda: len(pen.children()) == 2, 10, what="two workers")
        held = [pen.connect() for _ in range(40)]
        names = {served_by(s) for s in held}
        assert len(names) == 1 and names <= {"a", "b"}     # tracked, whichever worker
        spread = wait_for(lambda: (lambda h: h if sum(h.values()) == 40 else None)(
            holders(pen, pen.port)), 5, what="40 connections held")
        assert all(n > 0 for n in spread.values()), spread
    finally:
        for s in held:
            s.close()
        pen.stop()


def test_a_hard_limit_is_exact_across_workers(backends, tmp_path) -> None:
    a, b = backends("name", "a", "b")
    # server 1 (C pen's first pick) is a, max 3 hard 3: the client is tracked to a up to its
    # hard limit, then fails over to b and is tracked there
    pen, path = start_pen(tmp_path, b.addr, f"{a.addr}:3:3", opts=["--workers", "2"])
    held = []
    try:
        wait_for(lambda: len(pen.children()) == 2, 10, what="two workers")
        held = [pen.connect() for _ in range(12)]
        names = [served_by(s) for s in held]     # (the workers admit them in any order)
        assert names.count("a") == 3 and names.count("b") == 9, names
        assert conn_sum(path) == 12
    finally:
        for s in held:
            s.close()
        pen.stop()


def _answer(pen: Pen) -> str:
    """Who answered one request: 'dummy' (pen itself), a backend's name, or what came."""
    data = b""
    with pen.connect() as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        while b"Ulric" not in data and not (data.startswith(b"served-by ") and b"\n" in data):
            chunk = s.recv(1000)
            if not chunk:
                break
            data += chunk
    if b"Ulric" in data:
        return "dummy"
    return data.split()[1].decode() if data.startswith(b"served-by ") else repr(data)


def test_a_command_is_in_force_in_every_worker_when_its_reply_comes(backends, tmp_path) -> None:
    """penctl's reply means done everywhere, as in C pen's one process; a frozen worker delays
    the reply by at most two seconds (logged), never blocks the control port."""
    (a,) = backends("name", "a")
    pen, path = start_pen(tmp_path, a.addr, opts=["--workers", "2"])
    try:
        wait_for(lambda: len(pen.children()) == 2, 10, what="two workers")
        for _ in range(15):
            assert cmd(path, "dummy") == ""
            answers = {_answer(pen) for _ in range(6)}
            assert answers == {"dummy"}, answers
            assert cmd(path, "no dummy") == ""
            answers = {_answer(pen) for _ in range(6)}
            assert answers == {"a"}, answers
        frozen = pen.children()[0]
        os.kill(frozen, signal.SIGSTOP)
        try:
            started = time.monotonic()
            assert cmd(path, "timeout 7") == "7\n"
            assert time.monotonic() - started < 5
        finally:
            os.kill(frozen, signal.SIGCONT)
        assert cmd(path, "timeout") == "7\n" and cmd(path, "no dummy") == ""
        assert {_answer(pen) for _ in range(6)} == {"a"}
    finally:
        pen.stop()


def test_a_killed_worker_is_restarted_and_its_counts_released(backends, tmp_path) -> None:
    (a,) = backends("name", "a")
    pen, path = start_pen(tmp_path, a.addr, opts=["--workers", "2"])
    held = []
    try:
        before = wait_for(lambda: (lambda c: c if len(c) == 2 else None)(pen.children()), 10,
                          what="two workers")
        held = [pen.connect() for _ in range(20)]
        assert all(served_by(s) == "a" for s in held)
        wait_for(lambda: conn_sum(path) == 20, 5, what="20 counted")
        per_worker = holders(pen, pen.port)
        victim = max(per_worker, key=per_worker.__getitem__)     # one that holds connections
        survivor = next(p for p in before if p != victim)
        os.kill(victim, signal.SIGKILL)
        after = wait_for(lambda: (lambda c: c if len(c) == 2 and victim not in c else None)(
            pen.children()), 10, what="a new worker")
        assert survivor in after
        alive = 0
        for s in held:
            s.settimeout(0.3)
            try:
                alive += s.recv(10) != b""
            except TimeoutError:
                alive += 1                  # still open: its worker lives
            except OSError:
                pass
        wait_for(lambda: conn_sum(path) == alive, 5, what=f"{alive} counted after the death")
        assert alive < 20
        fresh = [pen.connect() for _ in range(10)]
        held += fresh
        assert all(served_by(s) == "a" for s in fresh)
        wait_for(lambda: conn_sum(path) == alive + 10, 5, what="new connections counted")
    finally:
        for s in held:
            s.close()
        pen.stop()


def test_the_pid_file_holds_the_main_pid_and_term_stops_every_worker(backends, tmp_path) -> None:
    (a,) = backends("name", "a")
    pidfile = tmp_path / "pen.pid"
    pen = Pen(a.addr, opts=["--workers", "2", "-p", str(pidfile)])
    workers = wait_for(lambda: (lambda c: c if len(c) == 2 else None)(pen.children()), 10,
                       what="two workers")
    assert int(pidfile.read_text()) == pen.proc.pid
    pen.signal(signal.SIGTERM)
    assert pen.proc.wait(10) == 0
    deadline = time.monotonic() + 5
    while any(os.path.exists(f"/proc/{w}") for w in workers) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not any(os.path.exists(f"/proc/{w}") for w in workers)
    pen.stop()


def test_workers_from_the_config_file_and_auto(backends, tmp_path) -> None:
    (a,) = backends("name", "a")
    cfg = tmp_path / "pen.cfg"
    cfg.write_text("workers 2\n")
    pen, path = start_pen(tmp_path, a.addr, opts=["-F", str(cfg)])
    try:
        wait_for(lambda: len(pen.children()) == 2, 10, what="two workers")
        assert cmd(path, "workers") == "2\n"
        assert cmd(path, "workers 3").startswith("error: workers: only at start-up")
    finally:
        pen.stop()
    pen = Pen(a.addr, opts=["--workers", "auto"])
    try:
        cores = len(os.sched_getaffinity(0))
        if cores > 1:
            wait_for(lambda: len(pen.children()) == cores, 10, what="one worker per core")
        else:
            assert pen.children() == []
    finally:
        pen.stop()


def _served_from(pen: Pen, source: str) -> str:
    with pen.connect(source=source) as s:
        return served_by(s)


def test_clients_max_grows_the_shared_client_table_keeping_every_client(backends, tmp_path) -> None:
    """`clients_max` past the table -c laid out grows it under the workers (issue 16): pen
    remembers more clients than the first table held, and every client keeps its server."""
    a, b = backends("name", "a", "b")
    path = str(tmp_path / "ctl.sock")
    pen = Pen(a.addr, b.addr, opts=["--workers", "2", "-c", "300", "-C", path], reuseport=True)
    held: list[socket.socket] = []
    try:
        wait_control(path)
        wait_for(lambda: len(pen.children()) == 2, 10, what="two workers")
        early = [f"127.1.{i // 200}.{i % 200 + 1}" for i in range(400)]
        ties = {h: _served_from(pen, h) for h in early}
        assert set(ties.values()) == {"a", "b"}
        assert cmd(path, "clients_max") == "300\n"
        assert cmd(path, "clients_max 200") == "300\n"            # only grows, as C pen
        assert cmd(path, "clients_max 4000") == "4000\n"
        assert cmd(path, "clients_max 1000") == "4000\n"
        late = [f"127.2.{i // 200}.{i % 200 + 1}" for i in range(1400)]   # -c 300: 1024 entries
        ties.update({h: _served_from(pen, h) for h in late})
        listed = {line.split()[0]: line for line in cmd(path, "recent 3600").splitlines()}
        assert set(ties) <= set(listed), len(set(ties) - set(listed))
        assert {h: _served_from(pen, h) for h in early} == {h: ties[h] for h in early}
        tracked = early[7]

        def thirty_on_both_workers(connects: int) -> None:
            """30 connections of the tracked client, spread over both workers: one server."""
            held[:] = [pen.connect(source=tracked) for _ in range(30)]
            assert {served_by(s) for s in held} == {ties[tracked]}
            spread = wait_for(lambda: (lambda h: h if sum(h.values()) == 30 else None)(
                holders(pen, pen.port)), 5, what="30 connections held")
            assert all(n > 0 for n in spread.values()), spread
            listed = {line.split()[0]: line for line in cmd(path, "recent 3600").splitlines()}
            assert listed[tracked].startswith(f"{tracked} connects {connects} "), listed[tracked]
            for s in held:
                s.close()
        thirty_on_both_workers(32)
        assert cmd(path, "clients_max 20000000").startswith("error: clients_max: 20000000 is over")
        assert cmd(path, "clients_max 9000") == "9000\n"            # a second growth
        listed = {line.split()[0]: line for line in cmd(path, "recent 3600").splitlines()}
        assert set(ties) <= set(listed), len(set(ties) - set(listed))
        victim = pen.children()[0]              # a worker forked after the growth maps it too
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: len(pen.children()) == 2 and victim not in pen.children(), 10,
                 what="a new worker")
        thirty_on_both_workers(62)
        assert "Traceback" not in pen.errors() and "client table" not in pen.errors()
    finally:
        for s in held:
            s.close()
        pen.stop()


def test_a_worker_maps_the_grown_table_it_is_told_of_skipping_outgrown_ones() -> None:
    """The descriptors come over the worker's socket, one per growth: it maps the one of the
    generation the header names (two growths between two of its locks: the first is closed)."""
    from pen.engine.workers import follower
    main, worker = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with main, worker:
        for generation, mark in ((1, b"x"), (2, b"y")):
            fd = os.memfd_create("test")
            os.ftruncate(fd, 4096)
            os.pwrite(fd, mark, 0)
            socket.send_fds(main, [b"%d" % generation], [fd])
            os.close(fd)
        segment = follower(worker)(2)
        assert len(segment) == 4096 and segment[:1] == b"y"
        segment.close()
