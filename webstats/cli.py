"""`webstats --control ADDR --listen HOST:PORT`: the status page served standalone, for a
quick look without a web server (docs/webstats.md).  A small threaded wsgiref server; for
production put the same application behind a real web server (CGI or WSGI).
"""
from __future__ import annotations

import secrets
import socket
import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import click

from pen.core.addr import is_loopback
from pen.version import version_option
from webstats import cluster, vrrp
from webstats.app import MAX_REFRESH, Config, WebStats


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _Quiet(WSGIRequestHandler):
    verbose = False

    def log_message(self, format: str, *args: object) -> None:
        if self.verbose:
            super().log_message(format, *args)


def parse_listen(text: str) -> tuple[str, int]:
    """HOST:PORT, [V6]:PORT, or PORT (loopback).  Port 0 picks a free port."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", text
    host = host.strip("[]") or "127.0.0.1"
    try:
        number = int(port)
    except ValueError:
        raise click.BadParameter(f"'{text}': expected HOST:PORT") from None
    if not 0 <= number <= 65535:
        raise click.BadParameter(f"'{text}': port out of range")
    return host, number


@click.command(context_settings={"help_option_names": ["-h", "--help"],
                                 "max_content_width": 100})
@click.option("--control", "-c", required=True, envvar="PEN_CONTROL", metavar="ADDR",
              help="pen's control port: host:port or a unix socket path (env PEN_CONTROL).")
@click.option("--listen", "-l", default="127.0.0.1:8080", show_default=True,
              metavar="HOST:PORT", help="Where to serve the page (port 0: any free port).")
@click.option("--refresh", type=click.IntRange(0, MAX_REFRESH), default=10, show_default=True,
              help="Auto-refresh period of the page in seconds (0: off).")
@click.option("--actions", is_flag=True,
              help="Enable the drain / blacklist / weight buttons (POST with a CSRF token).")
@click.option("--secret", envvar="WEBSTATS_SECRET", metavar="TEXT",
              help="Key for the CSRF tokens (env WEBSTATS_SECRET; default: random per run).")
@click.option("--timeout", type=click.FloatRange(0.1, 60), default=5.0, show_default=True,
              help="Seconds to wait for pen's control port.")
@click.option("--vrrp-status", envvar="WEBSTATS_VRRP", metavar="URL",
              help="This node's penvrrp status (penvrrp --metrics-listen): "
                   "http://HOST:PORT/status.json (env WEBSTATS_VRRP).")
@click.option("--cluster", "cluster_file", envvar="WEBSTATS_CLUSTER", metavar="FILE",
              help="TOML file naming every node's pen control port and VRRP status URL: "
                   "serves /cluster (env WEBSTATS_CLUSTER).")
@click.option("--verbose", "-v", is_flag=True, help="Log every request on stderr.")
@version_option("webstats")
def command(control: str, listen: str, refresh: int, actions: bool, secret: str | None,
            timeout: float, vrrp_status: str | None, cluster_file: str | None,
            verbose: bool) -> None:
    """Serve pen's live status page, /api/status (JSON) and /metrics (Prometheus)."""
    host, port = parse_listen(listen)
    if actions and not is_loopback(host):
        click.echo(f"webstats: warning: actions are enabled on {host}, reachable from other "
                   "hosts; anyone who can load the page can change pen", err=True)
    try:
        if vrrp_status:
            vrrp.check_url(vrrp_status)
        nodes = cluster.load(cluster_file) if cluster_file else ()
    except (vrrp.VrrpError, cluster.ClusterError) as exc:
        raise click.UsageError(str(exc)) from None
    config = Config(control=control, actions=actions, refresh=refresh, timeout=timeout,
                    vrrp=vrrp_status or "", cluster=nodes,
                    secret=(secret or secrets.token_hex(32)).encode())
    _Server.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
    _Quiet.verbose = verbose
    try:
        server = make_server(host, port, WebStats(config), server_class=_Server,
                             handler_class=_Quiet)
    except OSError as e:
        click.echo(f"webstats: cannot listen on {listen}: {e.strerror or e}", err=True)
        sys.exit(1)
    bound = server.server_address[1]
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"webstats: serving http://{shown}:{bound}/ (pen control {control})")
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def main() -> None:
    command.main(prog_name="webstats")


if __name__ == "__main__":
    main()
