"""The balancer's decision state: settings and the three tables, shared by selection and control."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pen.core.acl import Acls
from pen.core.balance.clients import ClientTable
from pen.core.balance.servers import ServerTable
from pen.settings import Settings


@dataclass(slots=True)
class PenState:
    settings: Settings
    servers: ServerTable = field(default_factory=ServerTable)
    acls: Acls = field(default_factory=Acls)
    clients: ClientTable = field(init=False)
    rr_last: int = 0           # round robin pointer; the first pick is server 1, as in C pen
    current: int = 0           # the last server chosen (the status page's "current")
    peers: Any = None          # the running peer shell (pen.core.control.peers.PeerHook), if any

    def __post_init__(self) -> None:
        self.clients = ClientTable(self.settings.clients_max)
