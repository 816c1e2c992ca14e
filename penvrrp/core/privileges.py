"""What penvrrp lacks to do its job, read from the capability sets (capabilities(7)).

A root check says nothing under systemd: penvrrp.service runs as a dynamic user with exactly
CAP_NET_RAW and CAP_NET_ADMIN as ambient capabilities, and plain root may have had either
dropped (a container, `capsh --drop`).  Pure: fed the text of /proc/self/status.
"""
from __future__ import annotations

# capability numbers, linux/capability.h
NEEDED = (
    (13, "CAP_NET_RAW", "raw protocol-112 sockets and gratuitous ARP"),
    (12, "CAP_NET_ADMIN", "adding and removing the VIPs"),
)


def missing(status_text: str) -> list[str]:
    """`CAP_X (what it is for)` for each needed capability not in CapEff; [] when the line is
    absent or unreadable, so a kernel that does not say is not warned about."""
    for line in status_text.splitlines():
        if line.startswith("CapEff:"):
            word = line.split(":", 1)[1].strip()
            if not word or any(c not in "0123456789abcdefABCDEF" for c in word) or len(word) > 32:
                return []
            effective = int(word, 16)
            return [f"{name} ({why})" for bit, name, why in NEEDED if not effective >> bit & 1]
    return []
