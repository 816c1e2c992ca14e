"""A Python http.server backend whose access log goes to stdout (for penlog) and a file.

Usage: python httpd_logging.py PORT_FILE LOG_FILE.  Binds 127.0.0.1:0, writes the port to
PORT_FILE once it listens.  Log lines are Combined Log Format plus pen-ha's connection
trailer (docs/penlogd.md): ``rport=`` the peer's port, ``sport=`` our own.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_request(self, code: object = "-", size: object = "-") -> None:
        t = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())
        line = (f'{self.client_address[0]} - - [{t}] "{self.requestline}" {code} 3 '
                f'"{self.headers.get("Referer", "-")}" "{self.headers.get("User-Agent", "-")}" '
                f'rport={self.client_address[1]} sport={self.server.server_address[1]}\n')
        with LOCK:
            sys.stdout.write(line)
            sys.stdout.flush()
            with open(sys.argv[2], "a") as f:
                f.write(line)

    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write(format % args + "\n")


class Server(ThreadingHTTPServer):
    request_queue_size = 512     # hundreds of concurrent connections from pen
    daemon_threads = True


def main() -> None:
    server = Server(("127.0.0.1", 0), Handler)
    tmp = sys.argv[1] + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(tmp, sys.argv[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
