"""The pen tracker's listen check against the real kernel: sock_diag(7) sees a socket that
listens and not one that is only bound or connected (docs/penvrrp.md "Tracking")."""
from __future__ import annotations

import socket

from penvrrp.runtime import probes


def test_listen_check_sees_listeners_only() -> None:
    lst = socket.socket()
    bound = socket.socket()
    six = socket.socket(socket.AF_INET6)
    try:
        lst.bind(("127.0.0.1", 0))
        lst.listen()
        bound.bind(("127.0.0.1", 0))
        six.bind(("::", 0))
        six.listen()
        listening, only_bound, wildcard = (s.getsockname()[1] for s in (lst, bound, six))
        assert ("127.0.0.1", listening) in probes._listeners()
        assert probes._listening(f"127.0.0.1:{listening}")
        assert not probes._listening(f"127.0.0.1:{only_bound}")
        assert probes._listening(f"127.0.0.1:{wildcard}")       # [::]:port takes IPv4 too
        client = socket.create_connection(("127.0.0.1", listening))
        try:
            peer_port = client.getsockname()[1]
            assert not probes._listening(f"127.0.0.1:{peer_port}")   # established, not listening
        finally:
            client.close()
    finally:
        for s in (lst, bound, six):
            s.close()
