"""NAT-PMP (RFC 6886) behind the Mapper interface."""

from __future__ import annotations

import asyncio
from ipaddress import IPv4Address
from typing import ClassVar

from homeport.core.mapping import EpochSample, natpmp_lost_state
from homeport.errors import RouterError
from homeport.io.natpmp import CLI_TRIES, NatPmpClient
from homeport.portmap.base import DEFAULT_DESCRIPTION, Mapper, Mapping, MethodStatus
from homeport.proto import natpmp


class NatPmpMapper(Mapper):
    method: ClassVar[str] = "natpmp"

    def __init__(self, gateway: str, internal_host: str, *, tries: int = CLI_TRIES) -> None:
        super().__init__(gateway, internal_host)
        self.client = NatPmpClient(gateway, tries=tries)
        self._epoch: EpochSample | None = None

    def _saw_epoch(self, epoch: int) -> None:
        sample = EpochSample(epoch, asyncio.get_running_loop().time())
        if natpmp_lost_state(self._epoch, sample):
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
        # Lifetime 0 means "delete" in NAT-PMP (§3.4): ask for the recommended lifetime instead.
        lifetime = lease if lease > 0 else natpmp.RECOMMENDED_LIFETIME
        answer = await self.client.map(protocol, internal_port, external_port, lifetime)
        self._saw_epoch(answer.epoch)
        if answer.result != 0:
            raise RouterError(
                f"NAT-PMP refused {protocol} {external_port}: {natpmp.result_text(answer.result)}"
                f" (result {answer.result})",
                code=answer.result,
            )
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
        # §3.4: a mapping is named by its internal port; lifetime 0 deletes it.
        answer = await self.client.map(protocol, internal_port, 0, 0)
        self._saw_epoch(answer.epoch)
        if answer.result != 0:
            raise RouterError(
                f"NAT-PMP did not delete {protocol} {internal_port}: "
                f"{natpmp.result_text(answer.result)}",
                code=answer.result,
            )

    async def external_ip(self) -> IPv4Address | None:
        answer = await self.client.external_address()
        self._saw_epoch(answer.epoch)
        if answer.result != 0:
            raise RouterError(
                f"NAT-PMP external address: {natpmp.result_text(answer.result)}",
                code=answer.result,
            )
        return answer.address

    async def status(self) -> MethodStatus:
        answer = await self.client.external_address()
        self._saw_epoch(answer.epoch)
        return MethodStatus(
            method=self.method,
            answered=True,
            external_ip=answer.address,
            epoch=answer.epoch,
            detail=natpmp.result_text(answer.result),
        )
