"""Benchmark mergelogs and penlogd on a generated log set (default 1 GB); see README.md.

Reports lines per second and peak memory (max RSS) of each program, as a table on stdout
and as JSON in bench/out/logs/results.json.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.logs.gen import SERVERS, generate  # noqa: E402
from pen.core.formats.accesslog import net_datagram, parse_file_line  # noqa: E402

BIN = Path(sys.executable).parent


def run_measured(argv: list[str], stdout: int | None = subprocess.DEVNULL) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of one child."""
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=stdout)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.monotonic() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv[0]} failed with {os.waitstatus_to_exitcode(status)}")
    return elapsed, usage.ru_maxrss * 1024


def count_lines(path: Path) -> int:
    n = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 24):
            n += chunk.count(b"\n")
    return n


def bench_mergelogs(data: Path, exe: str, merged: Path) -> dict:
    args = [exe, "-p", str(data / "pen.log"), *[f"127.0.0.1:{data / n}" for n, _ in SERVERS]]
    with open(merged, "wb") as out:
        secs, rss = run_measured(args, stdout=out.fileno())
    lines = count_lines(merged)
    return {"program": exe, "lines": lines, "seconds": round(secs, 2),
            "lines_per_s": round(lines / secs), "peak_rss_mb": round(rss / 1e6, 1)}


def _stream(data: Path):
    """(datagram, is_web) in the order things happen: pen's entry, then the server's line."""
    webs = [open(data / n, "rb") for n, _ in SERVERS]
    with open(data / "pen.log", encoding="latin-1") as pen:
        for i, line in enumerate(pen):
            e = parse_file_line(line)
            assert e is not None
            yield net_datagram(e), False
            yield webs[i % len(webs)].readline(), True
    for w in webs:
        w.close()


class Tail:
    """Counts the lines of a growing file, reading each byte once."""

    def __init__(self, path: Path) -> None:
        self.f = open(path, "rb")
        self.n = 0

    def lines(self) -> int:
        while chunk := self.f.read(1 << 20):
            self.n += chunk.count(b"\n")
        return self.n


def bench_penlogd(data: Path, merged: Path, window: int) -> dict:
    """Feed the set to a real penlogd over UDP; at most `window` lines ahead of its output,
    so the socket buffer never overflows (a lost datagram would be a lost line)."""
    port_file = merged.with_suffix(".port")
    port_file.unlink(missing_ok=True)
    merged.unlink(missing_ok=True)
    proc = subprocess.Popen([str(BIN / "penlogd"), "-f", "-l", str(merged), "--port-file",
                             str(port_file), "0"])
    deadline = time.monotonic() + 10
    while not port_file.exists():
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit("penlogd did not start")
        time.sleep(0.02)
    dest = ("127.0.0.1", int(port_file.read_text()))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    merged.touch()
    tail = Tail(merged)
    sent_web = 0
    t0 = time.monotonic()
    for dgram, is_web in _stream(data):
        sock.sendto(dgram, dest)
        if is_web:
            sent_web += 1
            if sent_web % (window // 2) == 0:
                while tail.lines() < sent_web - window // 2:   # let the output catch up
                    if proc.poll() is not None:
                        raise SystemExit("penlogd died")
                    time.sleep(0.0005)
    end = time.monotonic() + 60
    while tail.lines() < sent_web and time.monotonic() < end:   # lost datagrams: stop waiting
        time.sleep(0.01)
    secs = time.monotonic() - t0
    with open(f"/proc/{proc.pid}/status") as f:
        hwm = next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")) * 1024
    proc.terminate()
    proc.wait(30)
    lines = count_lines(merged)
    return {"program": "penlogd", "lines": lines, "sent": sent_web, "seconds": round(secs, 2),
            "lines_per_s": round(lines / secs), "peak_rss_mb": round(hwm / 1e6, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", type=float, default=1e9, help="bytes of logs (default 1 GB)")
    ap.add_argument("--rate", type=int, default=200, help="requests per second of log time")
    ap.add_argument("--out", type=Path, default=Path("bench/out/logs"))
    ap.add_argument("--with-c", action="store_true", help="also time C mergelogs (very slow at 1 GB)")
    ap.add_argument("--skip-penlogd", action="store_true")
    a = ap.parse_args()
    data = a.out / f"set-{int(a.size)}-{a.rate}"
    if not (data / "pen.log").exists():
        print(f"generating {a.size / 1e9:g} GB in {data} ...", flush=True)
        generate(data, int(a.size), a.rate, 1)
    total = sum((data / n).stat().st_size for n in ["pen.log", *[n for n, _ in SERVERS]])
    print(f"log set: {total / 1e9:.2f} GB, {count_lines(data / 'pen.log')} requests", flush=True)
    results = [bench_mergelogs(data, str(BIN / "mergelogs"), a.out / "merged-ours.log")]
    if a.with_c:
        results.append(bench_mergelogs(data, "/usr/bin/mergelogs", a.out / "merged-c.log"))
    if not a.skip_penlogd:
        results.append(bench_penlogd(data, a.out / "merged-penlogd.log", window=2000))
    print(f"{'program':<22}{'lines':>10}{'seconds':>10}{'lines/s':>10}{'peak RSS MB':>13}")
    for r in results:
        print(f"{Path(r['program']).name:<22}{r['lines']:>10}{r['seconds']:>10}{r['lines_per_s']:>10}"
              f"{r['peak_rss_mb']:>13}")
    (a.out / "results.json").write_text(json.dumps({"bytes": total, "results": results}, indent=1))


if __name__ == "__main__":
    main()
