"""penvrrp.core.penprobe: the `serving` reply, the kernel listening tables and sock_diag."""
from __future__ import annotations

import socket
import struct

import pytest

from penvrrp.core import penprobe


def test_serving_reply_and_addresses() -> None:
    assert penprobe.parse_count(b"3\n") == 3
    assert penprobe.parse_count(b"0\n") == 0
    assert penprobe.parse_count(b"\xd9\xa3\n") is None          # not ASCII digits
    assert penprobe.parse_count(b"") is None
    assert penprobe.is_unknown_command(b"do_cmd: ignoring command starting with 'serving'\n")
    assert penprobe.split_address("127.0.0.1:10080") == ("127.0.0.1", 10080)
    assert penprobe.split_address("9100") == ("127.0.0.1", 9100)
    assert penprobe.split_address("[::1]:80") == ("::1", 80)
    for bad in ("x:", "1:99999", "[::1]80", "١٢"):
        with pytest.raises(penprobe.AddressError):
            penprobe.split_address(bad)


TCP = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:2760 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1
   1: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1
   2: 0100007F:1F90 0100007F:D000 01 00000000:00000000 00:00000000 00000000     0        0 3 1
"""


TCP6 = """  sl  local_address                         remote_address                        st
   0: 00000000000000000000000001000000:1F91 00000000000000000000000000000000:0000 0A 0 0
"""


def test_listening_reads_the_kernel_table() -> None:
    assert penprobe.listening([TCP], "127.0.0.1", 10080)
    assert penprobe.listening([TCP], "127.0.0.1", 80)               # 0.0.0.0:80
    assert not penprobe.listening([TCP], "127.0.0.1", 8080)         # established, not listening
    assert penprobe.listening([TCP, TCP6], "::1", 8081)
    assert not penprobe.listening([TCP6], "127.0.0.1", 10080)


def _diag_msg(family: int, addr: bytes, port: int) -> bytes:
    body = struct.pack("=BBBB", family, 10, 0, 0) + struct.pack("!HH", port, 0) + addr.ljust(16, b"\0") \
        + bytes(16) + bytes(12) + bytes(20)
    return struct.pack("=IHHII", 16 + len(body), penprobe.SOCK_DIAG_BY_FAMILY, 2, 1, 0) + body


def test_sock_diag_request_and_reply() -> None:
    req = penprobe.diag_request(socket.AF_INET6, 7)
    length, kind, flags, seq, _pid = struct.unpack_from("=IHHII", req)
    assert (length, kind, seq) == (len(req), 20, 7) and flags == 0x301
    family, proto, _ext, _pad, states = struct.unpack_from("=BBBBI", req, 16)
    assert (family, proto, states) == (socket.AF_INET6, 6, 1 << 10)          # TCP, LISTEN only
    data = (_diag_msg(socket.AF_INET, bytes([127, 0, 0, 1]), 10080)
            + _diag_msg(socket.AF_INET6, bytes(16), 80))
    found, done = penprobe.parse_diag(data)
    assert found == [("127.0.0.1", 10080), ("::", 80)] and not done
    assert penprobe.listens_on(found, "127.0.0.1", 80) and penprobe.listens_on(found, "127.0.0.1", 10080)
    assert not penprobe.listens_on(found, "127.0.0.1", 8080)
    assert penprobe.parse_diag(struct.pack("=IHHII", 20, 3, 2, 1, 0) + bytes(4)) == ([], True)
    with pytest.raises(OSError):
        penprobe.parse_diag(struct.pack("=IHHIIi", 20, 2, 0, 1, 0, -1))
