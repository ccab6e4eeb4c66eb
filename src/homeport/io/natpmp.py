"""NAT-PMP client shell (RFC 6886): packets from proto/natpmp.py over io/udp.py."""

from __future__ import annotations

from homeport.io.udp import exchange
from homeport.proto import natpmp

# A command line should not wait the RFC's full ~64 s on a router that never answers:
# 4 tries (250+500+1000+2000 ms) = 3.75 s. The keeper passes natpmp.MAX_TRIES.
CLI_TRIES = 4


class NatPmpClient:
    def __init__(self, gateway: str, *, tries: int = CLI_TRIES) -> None:
        self.gateway = gateway
        self.tries = tries

    async def _ask(self, request: bytes) -> natpmp.ExternalAddressResponse | natpmp.MapResponse:
        data = await exchange(
            self.gateway,
            natpmp.PORT,
            request,
            natpmp.retransmit_delays(self.tries),
            lambda answer: natpmp.matches(request, answer),
            what="NAT-PMP",
        )
        return natpmp.decode(data)

    async def external_address(self) -> natpmp.ExternalAddressResponse:
        answer = await self._ask(natpmp.external_address_request())
        assert isinstance(answer, natpmp.ExternalAddressResponse)
        return answer

    async def map(
        self, protocol: str, internal_port: int, external_port: int, lifetime: int
    ) -> natpmp.MapResponse:
        answer = await self._ask(
            natpmp.map_request(protocol, internal_port, external_port, lifetime)
        )
        assert isinstance(answer, natpmp.MapResponse)
        return answer
