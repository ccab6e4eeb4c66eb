"""PCP client shell (RFC 6887): packets from proto/pcp.py over io/udp.py."""

from __future__ import annotations

import random
from collections.abc import Iterator

from homeport.io.udp import exchange
from homeport.proto import pcp

# RFC 6887 §8.1.1 has no count limit (MRC 0) and leaves MRD to the application. A command line
# gives up after two transmissions (~9 s); the keeper passes a longer bound.
CLI_MAX_DURATION = 9.0


def _jitter() -> Iterator[float]:
    rng = random.SystemRandom()
    while True:
        yield rng.uniform(-0.1, 0.1)  # §8.1.1 RAND


class PcpClient:
    def __init__(
        self, gateway: str, client_ip: str, *, max_duration: float = CLI_MAX_DURATION
    ) -> None:
        self.gateway = gateway
        self.client_ip = client_ip  # must be our source address, else ADDRESS_MISMATCH (§8.3)
        self.max_duration = max_duration

    async def _ask(self, request: bytes) -> pcp.Response:
        data = await exchange(
            self.gateway,
            pcp.PORT,
            request,
            pcp.retransmit_delays(_jitter(), self.max_duration),
            lambda answer: pcp.matches(request, answer),
            what="PCP",
        )
        return pcp.decode(data)

    async def announce(self) -> pcp.Response:
        return await self._ask(pcp.announce_request(self.client_ip))

    async def map(
        self,
        *,
        nonce: bytes,
        protocol: str,
        internal_port: int,
        external_port: int,
        lifetime: int,
    ) -> pcp.Response:
        return await self._ask(
            pcp.map_request(
                nonce=nonce,
                client=self.client_ip,
                protocol=protocol,
                internal_port=internal_port,
                external_port=external_port,
                lifetime=lifetime,
            )
        )
