"""Carries out the hand-over rules of core.handover with nft(8) (docs/penvrrp.md "Hand-over").

Without nft (the `nftables` package) or without the kernel's nf_tables, penvrrp works as
before: a connection open through the old master when the VIP moves may be reset.  That is
said once in the log, not on every hand-over.
"""
from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess

from penvrrp.core import handover

log = logging.getLogger("penvrrp")
NFT_TIMEOUT = 3.0


class Handover:
    """One instance's forward and hide tables."""

    def __init__(self, name: str, vrid: int, interface: str, vips: list[str], enabled: bool = True) -> None:
        self.name, self.vrid, self.interface, self.vips = name, vrid, interface, vips
        self.nft = shutil.which("nft") if enabled else None
        self.warned = False
        self.hidden = False
        self.forwarding = False

    async def _run(self, script: str, what: str) -> bool:
        if not script:
            return True
        if self.nft is None:
            if not self.warned:
                self.warned = True
                log.warning("%s: no nft(8): connections open through the old master are not kept "
                            "across a hand-over (install nftables)", self.name)
            return False
        try:
            proc = await asyncio.create_subprocess_exec(self.nft, "-f", "-", stdin=subprocess.PIPE,
                                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            async with asyncio.timeout(NFT_TIMEOUT):
                _out, err = await proc.communicate(script.encode())
        except TimeoutError:
            proc.kill()
            await proc.wait()
            log.error("%s: nft did not finish %s in %.0f s", self.name, what, NFT_TIMEOUT)
            return False
        except OSError as exc:
            log.error("%s: cannot run nft to %s: %s", self.name, what, exc)
            return False
        if proc.returncode != 0:
            if not self.warned:
                self.warned = True
                log.error("%s: nft failed to %s: %s", self.name, what, err.decode(errors="replace").strip())
            return False
        return True

    async def forward(self, peer: str) -> None:
        if await self._run(handover.forward_rules(self.vrid, self.interface, self.vips, peer),
                           f"forward unknown flows to {peer}"):
            self.forwarding = True
            log.info("%s: forwarding the connections open through %s to it", self.name, peer)

    async def unforward(self) -> None:
        if self.forwarding and await self._run(handover.remove_rules(self.vrid, hide=False), "stop forwarding"):
            self.forwarding = False

    async def hide(self) -> None:
        if await self._run(handover.hide_rules(self.vrid, self.interface, self.vips), "hide the VIPs"):
            self.hidden = True

    async def unhide(self) -> None:
        if self.hidden and await self._run(handover.remove_rules(self.vrid, forward=False), "unhide the VIPs"):
            self.hidden = False

    async def clear(self) -> None:
        """Everything of this instance, whatever an earlier (killed) agent left."""
        if self.nft is not None:
            await self._run(handover.remove_rules(self.vrid), "remove the hand-over rules")
        self.hidden = self.forwarding = False


def clear_sync(vrid: int) -> None:
    """For `penvrrp cleanup`: remove a killed agent's tables (no event loop there)."""
    nft = shutil.which("nft")
    if nft is None:
        return
    try:
        subprocess.run([nft, "-f", "-"], input=handover.remove_rules(vrid), text=True,
                       capture_output=True, timeout=NFT_TIMEOUT)
    except (OSError, subprocess.SubprocessError) as exc:
        log.error("cleanup: nft: %s", exc)


def hide_sync(vrid: int, interface: str, vips: list[str]) -> None:
    nft = shutil.which("nft")
    if nft is None:
        return
    try:
        subprocess.run([nft, "-f", "-"], input=handover.hide_rules(vrid, interface, vips), text=True,
                       capture_output=True, timeout=NFT_TIMEOUT)
    except (OSError, subprocess.SubprocessError) as exc:
        log.error("cleanup: nft: %s", exc)
