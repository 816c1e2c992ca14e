#!/usr/bin/env python3
"""The pen-ha demo: three local web backends and pen balancing them, in the foreground.

Started by scripts/demo.sh (which sets up the virtualenv).  Ctrl-C stops everything.
"""
from __future__ import annotations

import http.server
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

BIN = Path(sys.executable).parent


def backend(name: str) -> int:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f"hello from {name} (you are {self.headers.get('X-Forwarded-For', '?')})\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, fmt: str, *args: object) -> None:
            print(f"  [{name}] {self.address_string()} {fmt % args}", flush=True)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


def free_port(preferred: int) -> int:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
        except OSError:
            s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    if any(a in ("-h", "--help") for a in sys.argv[1:]):
        print(__doc__.strip())
        return 0
    ports = [backend(name) for name in ("web1", "web2", "web3")]
    listen = free_port(8080)
    tmp = Path(tempfile.mkdtemp(prefix="pen-demo-"))
    control = tmp / "pen.ctl"
    argv = [str(BIN / "pen"), "-f", "-r", "-H", "-C", str(control), "-l", str(tmp / "access.log"),
            f"127.0.0.1:{listen}", *[f"127.0.0.1:{p}" for p in ports]]
    penctl = BIN / "penctl"
    print(f"""
pen-ha demo: pen balances three local web servers (round robin, X-Forwarded-For on).

  backends : {', '.join(f'127.0.0.1:{p}' for p in ports)}
  pen      : {' '.join(argv)}

Try, in another terminal:
  curl http://127.0.0.1:{listen}/                  # run it a few times: web1, web2, web3 ...
  {penctl} {control} servers
  {penctl} {control} mode
  {penctl} {control} server 1 blacklist 30      # web2 is skipped for 30 s
  {penctl} {control} recent
  tail -f {tmp / 'access.log'}

Ctrl-C stops the demo.
""", flush=True)
    pen = subprocess.Popen(argv)
    try:
        return pen.wait()
    except KeyboardInterrupt:
        pen.send_signal(signal.SIGTERM)
        pen.wait(5)
        return 0


if __name__ == "__main__":
    sys.exit(main())
