"""PCP (RFC 6887) MAP behind the Mapper interface.

A mapping's nonce must be repeated to renew or delete it (§11.1, §15), so nonces are kept per
(protocol, internal port) in a :class:`NonceStore`: in memory for the keeper, in the state file
for the command line.
"""

from __future__ import annotations

import asyncio
import secrets
from ipaddress import IPv4Address
from typing import ClassVar, Protocol

from homeport.core.mapping import EpochSample, pcp_lost_state
from homeport.errors import RouterError
from homeport.io.pcp import CLI_MAX_DURATION, PcpClient
from homeport.portmap.base import DEFAULT_DESCRIPTION, Mapper, Mapping, MethodStatus
from homeport.proto import pcp


class NonceStore(Protocol):
    def get_nonce(self, key: str) -> bytes | None: ...
    def set_nonce(self, key: str, nonce: bytes | None) -> None: ...


class MemoryNonces:
    def __init__(self) -> None:
        self._nonces: dict[str, bytes] = {}

    def get_nonce(self, key: str) -> bytes | None:
        return self._nonces.get(key)

    def set_nonce(self, key: str, nonce: bytes | None) -> None:
        if nonce is None:
            self._nonces.pop(key, None)
        else:
            self._nonces[key] = nonce


class PcpMapper(Mapper):
    method: ClassVar[str] = "pcp"

    def __init__(
        self,
        gateway: str,
        internal_host: str,
        *,
        nonces: NonceStore | None = None,
        max_duration: float = CLI_MAX_DURATION,
    ) -> None:
        super().__init__(gateway, internal_host)
        self.client = PcpClient(gateway, internal_host, max_duration=max_duration)
        self.nonces: NonceStore = nonces or MemoryNonces()
        self._epoch: EpochSample | None = None
        self._external: IPv4Address | None = None

    def _saw_epoch(self, epoch: int) -> None:
        sample = EpochSample(epoch, asyncio.get_running_loop().time())
        if pcp_lost_state(self._epoch, sample):
            self.reboot_detected = True
        self._epoch = sample

    async def add(
        self,
        *,
        protocol: str,
        external_port: int,
        internal_port: int,
        lease: int,
        description: str = DEFAULT_DESCRIPTION,
    ) -> Mapping:
        key = f"{protocol}/{internal_port}"
        nonce = self.nonces.get_nonce(key) or secrets.token_bytes(pcp.NONCE_SIZE)
        answer = await self.client.map(
            nonce=nonce,
            protocol=protocol,
            internal_port=internal_port,
            external_port=external_port,
            lifetime=lease if lease > 0 else pcp_default_lifetime(),
        )
        self._saw_epoch(answer.epoch)
        if answer.result != pcp.SUCCESS:
            raise RouterError(
                f"PCP refused {protocol} {external_port}: {pcp.result_text(answer.result)}"
                f" (result {answer.result})",
                code=answer.result,
            )
        self.nonces.set_nonce(key, nonce)
        if isinstance(answer.external_address, IPv4Address):
            self._external = answer.external_address
        return Mapping(
            protocol=protocol,
            external_port=answer.external_port,
            internal_host=self.internal_host,
            internal_port=answer.internal_port,
            lease=answer.lifetime,
            method=self.method,
            description=description,
        )

    async def remove(self, *, protocol: str, external_port: int, internal_port: int) -> None:
        key = f"{protocol}/{internal_port}"
        nonce = self.nonces.get_nonce(key) or secrets.token_bytes(pcp.NONCE_SIZE)
        answer = await self.client.map(
            nonce=nonce,
            protocol=protocol,
            internal_port=internal_port,
            external_port=external_port,
            lifetime=0,
        )
        self._saw_epoch(answer.epoch)
        if answer.result != pcp.SUCCESS:
            raise RouterError(
                f"PCP did not delete {protocol} {external_port}: {pcp.result_text(answer.result)}",
                code=answer.result,
            )
        self.nonces.set_nonce(key, None)

    async def external_ip(self) -> IPv4Address | None:
        """PCP has no address query; this is the address of the last granted mapping."""
        return self._external

    async def status(self) -> MethodStatus:
        answer = await self.client.announce()
        self._saw_epoch(answer.epoch)
        return MethodStatus(
            method=self.method,
            answered=True,
            external_ip=self._external,
            epoch=answer.epoch,
            detail=pcp.result_text(answer.result),
        )


def pcp_default_lifetime() -> int:
    # RFC 6887 §11.2: lifetime 0 deletes; a "permanent" ask gets the NAT-PMP recommendation.
    return 7200
