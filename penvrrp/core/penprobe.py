"""What the pen tracker reads: pen's `serving` reply, pen's listening socket, addresses.

Pure text parsing, so the runtime probe (penvrrp.runtime.probes) stays a thin shell.  The
tracker asks pen's control port `serving` (the number of servers pen can use: docs/penctl.md)
and never connects to pen's listen port, because a connection there is a client to pen: pen
would try a backend for it, and while this node's link is down every attempt fails and
blacklists a server (docs/penvrrp.md "Tracking").  The listen check asks the kernel for its
listening sockets instead, through sock_diag(7) (only sockets in LISTEN state, so a busy node's
tens of thousands of TIME_WAIT entries cost nothing; reading /proc/net/tcp, proc(5), lists them
all and took the agent's event loop away for most of a second under load).
"""
from __future__ import annotations

import ipaddress
import struct

from pen.core.numbers import ascii_decimal

TCP_LISTEN = "0A"           # st column of /proc/net/tcp (include/net/tcp_states.h)


class AddressError(ValueError):
    pass


def split_address(text: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """[host:]port or [v6]:port, as C pen writes addresses."""
    if text.startswith("["):
        host, sep, port_text = text[1:].partition("]:")
        if not sep:
            raise AddressError(f"{text!r}: expected [ADDR]:PORT")
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        host = host or default_host
    else:
        host, port_text = default_host, text
    port = ascii_decimal(port_text, 5)
    if port is None or not 0 < port < 65536:
        raise AddressError(f"{text!r}: port must be 1-65535")
    return host, port


def parse_count(reply: bytes) -> int | None:
    """The number `serving` answers, or None when the reply is not one (C pen answers
    `do_cmd: ignoring command starting with 'serving'`)."""
    words = reply.decode("ascii", "replace").split()
    return ascii_decimal(words[0], 9) if words else None


def is_unknown_command(reply: bytes) -> bool:
    return reply.startswith(b"do_cmd: ignoring command")


def _hex_addr(field: str) -> tuple[str, int] | None:
    """`0100007F:0050` -> ('127.0.0.1', 80); IPv6 in the kernel's four host-order words."""
    addr_hex, _, port_hex = field.partition(":")
    try:
        port = int(port_hex, 16)
        raw = bytes.fromhex(addr_hex)
    except ValueError:
        return None
    if len(raw) not in (4, 16):
        return None
    host = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(host)), port


def _wanted(host: str) -> set[str]:
    wanted = {host, "0.0.0.0", "::"}
    if host.startswith("127.") or host == "::1":
        wanted.add("::ffff:" + host if ":" not in host else host)
    return wanted


# sock_diag(7): SOCK_DIAG_BY_FAMILY dump of TCP sockets in LISTEN state (linux/inet_diag.h)
NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
TCPF_LISTEN = 1 << 10
_NLMSG = struct.Struct("=IHHII")
_REQ = struct.Struct("=BBBBI48s")             # inet_diag_req_v2: family, protocol, ext, pad, states, id


def diag_request(family: int, seq: int) -> bytes:
    """One dump request for the TCP listeners of ``family`` (AF_INET or AF_INET6)."""
    body = _REQ.pack(family, 6, 0, 0, TCPF_LISTEN, bytes(48))
    return _NLMSG.pack(_NLMSG.size + len(body), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body


def parse_diag(data: bytes) -> tuple[list[tuple[str, int]], bool]:
    """(listening (address, port) pairs, dump finished) of one netlink read.  An error
    message raises OSError with its errno."""
    out: list[tuple[str, int]] = []
    off = 0
    while off + _NLMSG.size <= len(data):
        length, kind, _flags, _seq, _pid = _NLMSG.unpack_from(data, off)
        if length < _NLMSG.size:
            break
        body = data[off + _NLMSG.size:off + length]
        if kind == NLMSG_DONE:
            return out, True
        if kind == NLMSG_ERROR:
            err = -struct.unpack_from("=i", body)[0] if len(body) >= 4 else 0
            raise OSError(err, "sock_diag dump failed")
        if kind == SOCK_DIAG_BY_FAMILY and len(body) >= 4 + 48:
            family = body[0]
            port = struct.unpack_from("!H", body, 4)[0]
            raw = body[8:12] if family == 2 else body[8:24]
            out.append((str(ipaddress.ip_address(raw)), port))
        off += (length + 3) & ~3
    return out, False


def listens_on(sockets: list[tuple[str, int]], host: str, port: int) -> bool:
    """True when one of the listening (address, port) pairs is ``host``:``port`` or a wildcard."""
    wanted = _wanted(host)
    return any(p == port and a in wanted for a, p in sockets)


def listening(tables: list[str], host: str, port: int) -> bool:
    """True when a TCP socket listens on port `port` at `host` or at a wildcard address
    (the text of /proc/net/tcp and tcp6: the fallback where sock_diag is missing)."""
    wanted = _wanted(host)
    for table in tables:
        for line in table.splitlines()[1:]:
            cols = line.split()
            if len(cols) < 4 or cols[3] != TCP_LISTEN:
                continue
            local = _hex_addr(cols[1])
            if local is not None and local[1] == port and local[0] in wanted:
                return True
    return False
