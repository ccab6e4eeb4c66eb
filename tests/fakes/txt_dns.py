"""An authoritative DNS server (UDP, 127.0.0.1:0) that serves TXT values from a dict.

It stands in for a homeport server's embedded DNS in tests where the TXT values are set
through the httpreq fake (tests/fakes/httpreq.py): both share one ``txt`` dict, so what
``/present`` adds is what this answers, as the real server promises (an update is
acknowledged only once its DNS serves it). Everything else: NOERROR, no data, AA.
"""

from __future__ import annotations

import asyncio

import dns.flags
import dns.message
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.rrset


class TxtDns(asyncio.DatagramProtocol):
    def __init__(self, txt: dict[str, set[str]]) -> None:
        self.txt = txt
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0
        self.queries: list[str] = []
        self.asked = asyncio.Event()  # set at each query (tests wait on it, not on a clock)

    async def start(self) -> int:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: self, local_addr=("127.0.0.1", 0)
        )
        self.port = int(transport.get_extra_info("sockname")[1])
        return self.port

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            query = dns.message.from_wire(data)
        except Exception:
            return
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        self.queries.append(f"{name} {dns.rdatatype.to_text(question.rdtype)}")
        self.asked.set()
        values = self.txt.get(name, set())
        if question.rdtype == dns.rdatatype.TXT and values:
            rrset = dns.rrset.RRset(question.name, dns.rdataclass.IN, dns.rdatatype.TXT)
            for value in sorted(values):
                rrset.add(
                    dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, [value.encode()]),
                    ttl=60,
                )
            response.answer.append(rrset)
        assert self.transport is not None
        self.transport.sendto(response.to_wire(), addr)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
