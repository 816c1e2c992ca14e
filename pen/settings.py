"""Every setting of pen, with C pen 0.34.1's defaults (pen(1) OPTIONS).

The command line fills it in; penctl commands change it at run time.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from pen.core.confine import Confinement

DEFAULT_BLACKLIST = 30
DEFAULT_TIMEOUT = 3        # the man page says 5; the code (and we) use 3
DEFAULT_CLIENTS = 2048
DEFAULT_CONNS = 500
DEFAULT_MULTI_ACCEPT = 100
DEFAULT_BACKLOG = 500
DEFAULT_PENDING_MAX = 100
MIN_BACKLOG = 50
# Ceilings for the table sizes (C pen had none: `server 99999999` or a huge -c/-x/clients_max
# exhausted memory, docs/compatibility.md).  A million connections is already past any fd limit.
MAX_CLIENTS = 16_777_216
MAX_CONNS = 1_048_576

MAX_WORKERS = 64                    # --workers ceiling (pen.core.balance.shared has one row each)


@dataclass(slots=True)
class Settings:
    listen: str | None = None
    server_specs: list[str] = field(default_factory=list)
    # timers and sizes
    blacklist: int = DEFAULT_BLACKLIST
    timeout: int = DEFAULT_TIMEOUT
    tracking: int = 0
    clients_max: int = DEFAULT_CLIENTS
    conn_max: int = DEFAULT_CONNS
    multi_accept: int = DEFAULT_MULTI_ACCEPT
    backlog: int = DEFAULT_BACKLOG
    pending_max: int = DEFAULT_PENDING_MAX
    idle_timeout: int = 0
    # algorithm flags (mode)
    hash: bool = False
    roundrobin: bool = False
    stubborn: bool = False
    weight: bool = False
    prio: bool = False
    leastconn: bool = False          # pen-ha: least connections, between weight and hash
    hash_method: str = "modulo"      # pen-ha: "modulo" (C pen's) or "consistent" (rendezvous)
    # data path
    http: bool = False
    udp: bool = False
    tcp_fastclose: str = "off"      # off | up | down | both
    tcp_nodelay: bool = False
    keepalive: bool = False
    transparent: bool = False
    source: str | None = None
    dummy: bool = False
    queue_max: int = 0               # pen-ha: clients waiting when every server is full
    queue_timeout: float = 5.0
    send_proxy: int = 0              # pen-ha: PROXY protocol version sent to servers (0 = off)
    backend_tls: bool = False        # pen-ha: TLS towards servers
    backend_tls_ca: str | None = None   # CA file to verify servers (default: the system's)
    backend_tls_noverify: bool = False  # accept any server certificate (not recommended)
    accept_proxy: bool = False       # pen-ha: expect a PROXY header from a front balancer
    # special servers
    emergency: str | None = None
    abuse: str | None = None
    # ACL selections
    client_acl: int = 0
    control_acl: int = 0
    tarpit_acl: int = -1
    # process
    debug: int = 0
    ascii: bool = False
    foreground: bool = False
    pidfile: str | None = None
    chroot: str | None = None
    user: str | None = None
    logfile: str | None = None
    log_ports: bool = False          # pen-ha: -l FILE lines carry the connection's ports
    web_stats: str | None = None
    control: str | None = None
    config_file: str | None = None
    commands: list[str] = field(default_factory=list)      # -o / -O, in order
    exit_enabled: bool = False
    use_poll: bool = False           # -P: accepted, the reactor is always epoll
    abort_on_error: bool = False
    # TLS (-E -K -G -A -R -L -Z and the ssl_* commands)
    ssl_cert: str | None = None
    ssl_key: str | None = None
    ssl_ca_file: str | None = None
    ssl_ca_dir: str | None = None
    ssl_require_client_cert: bool = False
    ssl_protocol: str | None = None
    ssl_compat: bool = False
    ssl_ciphers: str | None = None
    ssl_options: list[str] = field(default_factory=list)
    ssl_sni_path: str | None = None
    ssl_ocsp_response: str | None = None
    ssl_client_renegotiation_interval: int = 3600
    tls_handshake_timeout: float = 10.0      # seconds a TLS client has to finish its handshake
    dsr_if: str | None = None
    dsr_ip: str | None = None
    geoip_db: list[str] = field(default_factory=list)   # issue 11: [] = Debian's GeoIP files
    control_socket_mode: int = 0o600
    takeover: str | None = None      # pen-ha: take the listener from the pen at this control path
    workers: int = 1                 # pen-ha: worker processes (--workers, `workers N`); 0 = auto
    confine: Confinement = field(default_factory=Confinement)   # issue 10: run-time file access
    # issue 17: pen peers share the client table (docs/peers.md)
    peers: list[str] = field(default_factory=list)   # --peer HOST:PORT, `peer`
    peer_listen: str | None = None   # --peer-listen [HOST:]PORT
    peer_key: str | None = None      # --peer-key FILE

    def mode_text(self) -> str:
        """The `mode` reply (penctl(1) `mode`): `[no ]hash [no ]roundrobin [no ]stubborn
        [no ]weight [no ]prio`."""
        flags = (("hash", self.hash), ("roundrobin", self.roundrobin),
                 ("stubborn", self.stubborn), ("weight", self.weight), ("prio", self.prio))
        return " ".join(name if on else f"no {name}" for name, on in flags)


DSR_PSEUDO_PORT = "1"     # DSR forwards frames by MAC: a server's port is never used


def dsr_all_ports(s: Settings) -> bool:
    """C pen's DSR form `VIP` or `VIP:0` (every port), with `dsr_if` given by -o/-O
    (docs/dataplane.md "Direct Server Return").
    Read from the start-up commands: they run after the command-line servers are parsed."""
    if not any(cmd.split()[:1] == ["dsr_if"] for cmd in s.commands):
        return False
    host, _, port = (s.listen or "").partition(":")
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return port in ("", "0")
