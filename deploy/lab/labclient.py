"""The lab's client: HTTP requests to the VIP, continuously, each on a new connection.

Every request is one line in --out: `START END ok BACKEND` or `START END fail REASON` (epoch
seconds), so failures can be counted and timed for any window afterwards; once a second a
summary goes to stderr.  Run inside the client namespace (`lab client`).  Stdlib only.

Two ways to load: by default a closed loop (`--concurrency` workers, each sending its next
request `--pause` after the last one ended); with `--rate R` an open loop, a request started
every 1/R s on a fixed schedule, whatever became of the earlier ones.  Compare failure counts
of two stacks only in an open loop: in a closed one a stack whose requests time out sends
fewer of them, and so fails fewer, than a stack that refuses at once for the same outage.
"""
from __future__ import annotations

import argparse
import signal
import socket
import sys
import threading
import time
from urllib.parse import urlsplit


class Recorder:
    def __init__(self, path: str | None) -> None:
        self.fp = open(path, "a", buffering=1) if path else None
        self.lock = threading.Lock()
        self.ok = self.fail = 0

    def add(self, t0: float, t1: float, ok: bool, detail: str) -> None:
        with self.lock:
            if ok:
                self.ok += 1
            else:
                self.fail += 1
            if self.fp:
                self.fp.write(f"{t0:.4f} {t1:.4f} {'ok' if ok else 'fail'} {detail}\n")


def one_request(host: str, port: int, path: str, timeout: float) -> tuple[bool, str]:
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: penha-lab\r\n\r\n".encode())
            chunks = []
            while True:
                data = s.recv(65536)
                if not data:
                    break
                chunks.append(data)
    except OSError as e:
        return False, type(e).__name__ if not e.strerror else e.strerror.replace(" ", "_")
    reply = b"".join(chunks)
    head, _, body = reply.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.") or head[9:12] != b"200":
        return False, "bad_reply:" + (head[:12].decode("latin-1").replace(" ", "_") or "empty")
    return True, body.strip().decode("latin-1", "replace") or "-"


def worker(args: argparse.Namespace, rec: Recorder, stop: threading.Event) -> None:
    u = urlsplit(args.url)
    host, port, path = u.hostname or "192.0.2.100", u.port or 80, u.path or "/"
    while not stop.is_set():
        t0 = time.time()
        ok, detail = one_request(host, port, path, args.timeout)
        rec.add(t0, time.time(), ok, detail)
        stop.wait(args.pause)


def scheduler(args: argparse.Namespace, rec: Recorder, stop: threading.Event) -> None:
    """The open loop: one short-lived thread per request, started on the schedule.  A start
    more than a period late is skipped, not bunched up: the client fell behind, not the stack
    under test.  Returns once the requests in flight have ended (each is bounded by
    --timeout)."""
    u = urlsplit(args.url)
    host, port, path = u.hostname or "192.0.2.100", u.port or 80, u.path or "/"
    period = 1.0 / args.rate
    flying: list[threading.Thread] = []

    def one(t0: float) -> None:
        ok, detail = one_request(host, port, path, args.timeout)
        rec.add(t0, time.time(), ok, detail)

    due = time.monotonic()
    while not stop.is_set():
        due += period
        late = time.monotonic() - due
        if late > period:
            continue
        if late < 0 and stop.wait(-late):
            break
        t = threading.Thread(target=one, args=(time.time(),), daemon=True)
        t.start()
        flying = [f for f in flying if f.is_alive()] + [t]
    for t in flying:
        t.join(args.timeout + 1)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default="http://192.0.2.100/")
    p.add_argument("--out", help="one line per request (START END ok|fail DETAIL)")
    p.add_argument("--duration", type=float, default=0, help="seconds; 0 = until interrupted")
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--pause", type=float, default=0.02, help="per worker, between requests")
    p.add_argument("--rate", type=float, default=0,
                   help="requests a second on a fixed schedule (an open loop); 0 = the closed loop")
    p.add_argument("--timeout", type=float, default=3.0, help="per request (connect + reply)")
    p.add_argument("--quiet", action="store_true", help="no per-second summary")
    args = p.parse_args()
    rec = Recorder(args.out)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if args.rate > 0:
        threads = [threading.Thread(target=scheduler, args=(args, rec, stop), daemon=True)]
    else:
        threads = [threading.Thread(target=worker, args=(args, rec, stop), daemon=True)
                   for _ in range(args.concurrency)]
    for t in threads:
        t.start()
    start = time.monotonic()
    last_ok = last_fail = 0
    while not stop.wait(1.0):
        if not args.quiet:
            print(f"t={time.monotonic() - start:5.0f}s  ok {rec.ok - last_ok:4d}/s  "
                  f"fail {rec.fail - last_fail:4d}/s  (total ok {rec.ok} fail {rec.fail})",
                  file=sys.stderr, flush=True)
        last_ok, last_fail = rec.ok, rec.fail
        if args.duration and time.monotonic() - start >= args.duration:
            stop.set()
    for t in threads:
        t.join(2 * args.timeout + 2)
    if rec.fp:
        rec.fp.close()
    print(f"total ok {rec.ok} fail {rec.fail}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
