"""pen-ha beyond C pen (issue 9): health checks, drain, queueing, PROXY protocol with HAProxy,
consistent hashing, least connections, seamless takeover."""
from __future__ import annotations

import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from support.procs import PEN, PENCTL, Backend, Pen, dead_port, fetch_name, free_port, wait_for


def penctl(ctl: Path, *words: str) -> str:
    return subprocess.run([str(PENCTL), str(ctl), *words], capture_output=True, text=True,
                          timeout=10).stdout


def test_health_check_marks_down_before_any_client_waits(backends, pen_factory, tmp_path) -> None:
    """A dead server is found by the check, so no client pays the connect timeout, and it comes
    back only after `rise` good checks."""
    (a,) = backends("name", "a")
    port = dead_port()
    ctl = tmp_path / "ctl"
    pen = pen_factory(a.addr, f"127.0.0.1:{port}", opts=[
        "-r", "-C", str(ctl), "-O", "server 1 check tcp interval 0.1 timeout 0.1 rise 2 fall 1"])
    wait_for(lambda: "DOWN" in pen.errors(), 5, what="server 1 marked down")
    assert [fetch_name(pen) for _ in range(6)] == ["a"] * 6
    revived = Backend("name", "revived", "--port", str(port))
    try:
        wait_for(lambda: "is UP" in pen.errors(), 5, what="server 1 back up")
        assert "revived" in {fetch_name(pen) for _ in range(4)}
    finally:
        revived.stop()


def test_http_health_check_expect_status(backends, pen_factory, tmp_path) -> None:
    (h,) = backends("http", "h")
    (n,) = backends("name", "n")                  # answers, but not HTTP
    pen = pen_factory(h.addr, n.addr, opts=[
        "-r", "-O", "server 0 check http /health expect 2xx interval 1 fall 1",   # 1 s to answer
        "-O", "server 1 check http /health expect 2xx interval 0.1 fall 1"])
    wait_for(lambda: "server 1" in pen.errors() and "DOWN" in pen.errors(), 5)
    assert "server 0" not in pen.errors()
    with pen.connect() as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 200")


def test_drain_lets_open_connections_finish(backends, pen_factory, tmp_path) -> None:
    """`server N drain`: open connections finish, no new ones (tracked clients move);
    `drain sticky`: clients tracked to the server are still admitted."""
    a, b = backends("name", "a", "b")
    ctl = tmp_path / "ctl"
    pen = pen_factory(a.addr, b.addr, opts=["-C", str(ctl)])
    held = pen.connect(source="127.0.0.2")
    assert held.makefile("rb").readline() == b"served-by b\n"
    penctl(ctl, "server", "1", "drain", "sticky")
    assert fetch_name(pen, source="127.0.0.3") == "a"           # new clients avoid b
    assert fetch_name(pen, source="127.0.0.2") == "b"           # b's own client still admitted
    assert "state draining" in penctl(ctl, "server_state")
    penctl(ctl, "server", "1", "drain")
    assert fetch_name(pen, source="127.0.0.2") == "a"           # strict: even b's client moves
    held.sendall(b"still here")                                 # the open connection lives on
    assert "1 addr 127.0.0.1" in penctl(ctl, "servers") and \
        penctl(ctl, "servers").splitlines()[1].split()[6] == "1"
    held.close()
    wait_for(lambda: penctl(ctl, "servers").splitlines()[1].split()[6] == "0", 5,
             what="server 1 drained to conn 0")
    penctl(ctl, "server", "1", "undrain")
    assert fetch_name(pen, source="127.0.0.4") in ("a", "b")


def test_queue_waits_for_a_free_slot(backends, pen_factory) -> None:
    (a,) = backends("name", "a")
    pen = pen_factory(f"{a.addr}:1", opts=["-O", "queue_max 10", "-O", "queue_timeout 5"])
    first = pen.connect()
    assert first.makefile("rb").readline() == b"served-by a\n"
    result: list[str] = []
    t = threading.Thread(target=lambda: result.append(fetch_name(pen, timeout=8)))
    t.start()
    time.sleep(0.5)                          # the second client is waiting in pen's queue now
    assert not result
    first.close()
    t.join(8)
    assert result == ["a"]


def test_queue_timeout_closes_the_waiting_client(backends, pen_factory) -> None:
    (a,) = backends("name", "a")
    pen = pen_factory(f"{a.addr}:1", opts=["-O", "queue_max 10", "-O", "queue_timeout 1"])
    first = pen.connect()
    first.makefile("rb").readline()
    t0 = time.monotonic()
    assert fetch_name(pen, timeout=5) == "FAIL"
    assert 0.9 <= time.monotonic() - t0 < 3
    first.close()


def haproxy(tmp_path: Path, config: str) -> subprocess.Popen:
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(config)
    proc = subprocess.Popen(["/usr/sbin/haproxy", "-db", "-f", str(cfg)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return proc


HAPROXY_GLOBAL = """global
    nbthread 1
defaults
    mode tcp
    timeout connect 5s
    timeout client 10s
    timeout server 10s
"""


@pytest.mark.compat
def test_send_proxy_v2_to_haproxy_accept_proxy(backends, pen_factory, tmp_path) -> None:
    """pen sends PROXY v2; HAProxy (accept-proxy) logs the real client and passes it on."""
    (h,) = backends("http", "h")
    hp_port = free_port()
    proc = haproxy(tmp_path, HAPROXY_GLOBAL + f"""
frontend fe
    mode http
    bind 127.0.0.1:{hp_port} accept-proxy
    option forwardfor
    default_backend be
backend be
    mode http
    server s1 {h.addr}
""")
    try:
        wait_for(lambda: _listening(hp_port), 10, what="haproxy")
        pen = pen_factory(f"127.0.0.1:{hp_port}", opts=["-O", "send_proxy 2"])
        with pen.connect(source="127.0.0.9") as s:
            s.sendall(b"GET /p HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        assert b"X-Forwarded-For: 127.0.0.9" in data or b"x-forwarded-for: 127.0.0.9" in data
    finally:
        proc.terminate()
        proc.wait(5)
        proc.stderr.close()


@pytest.mark.compat
def test_accept_proxy_from_haproxy_send_proxy_v2(backends, tmp_path) -> None:
    """HAProxy in front (send-proxy-v2): pen sees the real client (hash/ACL/log use it)."""
    (a,) = backends("name", "a")
    (abuse,) = backends("name", "abuse")
    pen = Pen(a.addr, opts=["-O", "accept_proxy", "-B", abuse.addr,
                            "-O", "acl 1 deny 127.0.0.7", "-O", "client_acl 1"])
    hp_port = free_port()
    proc = haproxy(tmp_path, HAPROXY_GLOBAL + f"""
frontend fe
    bind 127.0.0.1:{hp_port}
    default_backend be
backend be
    server pen 127.0.0.1:{pen.port} send-proxy-v2
""")
    try:
        wait_for(lambda: _listening(hp_port), 10, what="haproxy")

        def via(src: str) -> str:
            with socket.socket() as s:
                s.settimeout(5)
                s.bind((src, 0))
                s.connect(("127.0.0.1", hp_port))
                return s.makefile("rb").readline().decode().split()[-1]
        assert via("127.0.0.7") == "abuse"          # denied: pen saw the real address
        assert via("127.0.0.8") == "a"
        # a client that skips the PROXY header is refused
        with pen.connect() as s:
            s.sendall(b"GET / HTTP/1.1\r\n\r\n")
            try:
                assert s.recv(100) == b""                   # closed ...
            except ConnectionResetError:
                pass                                        # ... or reset: refused either way
    finally:
        proc.terminate()
        proc.wait(5)
        proc.stderr.close()
        pen.stop()


def _listening(port: int) -> bool:
    from support.procs import listening
    return listening(port)


def test_consistent_hash_and_leastconn_via_commands(backends, pen_factory) -> None:
    bs = backends("name", "a", "b", "c")
    pen = pen_factory(*[b.addr for b in bs], opts=["-h", "-O", "hash_method consistent"])
    first = {src: fetch_name(pen, source=src) for src in (f"127.0.1.{i}" for i in range(2, 30))}
    again = {src: fetch_name(pen, source=src) for src in first}
    assert first == again and len(set(first.values())) == 3
    pen2 = pen_factory(*[b.addr for b in bs], opts=["-r", "-O", "leastconn"])
    held = [pen2.connect() for _ in range(3)]
    names = sorted(s.makefile("rb").readline().split()[1].decode() for s in held)
    assert names == ["a", "b", "c"]
    for s in held:
        s.close()


def test_takeover_under_load_loses_nothing(backends, tmp_path) -> None:
    """A new pen takes the listening socket from the old one while clients keep connecting:
    no connection refused or reset; the old pen exits after its last connection."""
    (a,) = backends("name", "a")
    ctl = tmp_path / "ctl"
    old = Pen(a.addr, opts=["-C", str(ctl)])
    stop = threading.Event()
    results: list[str] = []

    def client_loop() -> None:
        while not stop.is_set():
            try:
                with socket.create_connection(("127.0.0.1", old.port), timeout=5) as s:
                    results.append("ok" if s.recv(100).startswith(b"served-by") else "bad")
            except OSError as e:
                results.append(type(e).__name__)

    threads = [threading.Thread(target=client_loop) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: len(results) > 50, 10)
        new = subprocess.Popen([str(PEN), "-f", "--takeover", str(ctl), "-C", str(tmp_path / "ctl2"),
                                old.listen, a.addr], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
        try:
            assert old.proc.wait(15) == 0                       # the old pen finished and left
            count = len(results)
            wait_for(lambda: len(results) > count + 50, 10, what="the new pen serving")
        finally:
            stop.set()
            for t in threads:
                t.join(10)
            new.terminate()
            new.wait(5)
            new.stderr.close()
    finally:
        stop.set()
        old.stop()
    bad = [r for r in results if r != "ok"]
    print(f"takeover under load: {len(results)} connections, {len(bad)} failed")
    assert not bad
