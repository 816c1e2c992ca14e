"""Generate a pen + web server log set of a given size for the log tools' benchmark.

pen.log (pen -l FILE lines, with the connection extension), and web1.log, web2.log
(Combined Log Format + rport/sport trailer), the traffic of `--rate` requests per second from
a few thousand clients.  Deterministic for a given seed.
"""
from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from pen.core.formats.accesslog import PenEntry, file_line_conn

PATHS = ["/", "/index.html", "/static/app.js", "/static/style.css", "/api/items?page={n}",
         "/img/{n}.png", "/search?q=term{n}"]
AGENTS = ['"-" "curl/7.88.1"', '"https://example.test/" "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"',
          '"https://example.test/a" "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) Safari/605.1.15"']
SERVERS = [("web1.log", 8080), ("web2.log", 8081)]
T0 = 1795315407


def generate(out: Path, size: int, rate: int, seed: int) -> int:
    """Write the set into `out`; returns the number of requests."""
    rnd = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    pen = open(out / "pen.log", "w", buffering=1 << 20)
    webs = [open(out / name, "w", buffering=1 << 20) for name, _ in SERVERS]
    written, n, t = 0, 0, T0
    stamp_t, stamp = -1, ""
    lport = 32768
    while written < size:
        if n % rate == 0:
            t += 1
        if t != stamp_t:
            stamp_t, stamp = t, time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(t))
        s = n % len(SERVERS)
        lport = lport + 1 if lport < 60999 else 32768
        client = f"10.{rnd.randint(0, 3)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}"
        req = f"GET {rnd.choice(PATHS).format(n=rnd.randint(0, 999))} HTTP/1.1"
        pline = file_line_conn(PenEntry(client, rnd.randint(1024, 65535), "127.0.0.1",
                                        SERVERS[s][1], lport, t, req))
        wline = (f'127.0.0.1 - - [{stamp}] "{req}" 200 {rnd.randint(100, 99999)} '
                 f'{rnd.choice(AGENTS)} rport={lport} sport={SERVERS[s][1]}\n')
        pen.write(pline)
        webs[s].write(wline)
        written += len(pline) + len(wline)
        n += 1
    pen.close()
    for w in webs:
        w.close()
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=Path("bench/out/logs"))
    ap.add_argument("--size", type=float, default=1e9, help="bytes in all (default 1 GB)")
    ap.add_argument("--rate", type=int, default=200, help="requests per second of log time")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    n = generate(a.out, int(a.size), a.rate, a.seed)
    print(f"{n} requests in {a.out}")


if __name__ == "__main__":
    main()
