"""How the doctor asks the router about one port (doctor.gather._mapping_for).

The daemon's doctor once reported "no mapping" for a mapping its own keeper had just made:
one SOAP answer lost on a loaded machine read as an empty table. The real routers are in
the lab tests (tests/e2e/test_doctor_lab.py); these pin the two decisions.
"""

from __future__ import annotations

import asyncio

from homeport.doctor.gather import ROUTER_ASK_TRIES, _mapping_for
from homeport.errors import TransportError
from homeport.portmap.base import Mapping

MAPPING = Mapping("tcp", 888, "192.168.77.10", 888, 3600, "upnp")


class Flaky:
    """A UPnP-like mapper whose first ``failures`` questions time out."""

    can_list = True

    def __init__(self, failures: int) -> None:
        self.failures, self.asked, self.listed = failures, 0, 0

    async def find(self, protocol: str, external_port: int) -> Mapping | None:
        self.asked += 1
        if self.asked <= self.failures:
            raise TransportError("timed out")
        return MAPPING if (protocol, external_port) == ("tcp", 888) else None

    async def list(self) -> list[Mapping]:
        self.listed += 1
        return []


def test_one_lost_answer_is_asked_again() -> None:
    mapper = Flaky(failures=1)
    assert asyncio.run(_mapping_for(mapper, 888)) == MAPPING
    assert mapper.asked == 2


def test_the_exact_question_is_used_not_the_list() -> None:
    mapper = Flaky(failures=0)
    assert asyncio.run(_mapping_for(mapper, 888)) == MAPPING
    assert asyncio.run(_mapping_for(mapper, 889)) is None
    assert mapper.listed == 0


def test_a_router_that_never_answers_gives_no_mapping_after_the_tries() -> None:
    mapper = Flaky(failures=100)
    assert asyncio.run(_mapping_for(mapper, 888)) is None
    assert mapper.asked == ROUTER_ASK_TRIES
