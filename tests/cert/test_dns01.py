"""The wait for the authoritative DNS: it goes on when every value is served, not before."""

from __future__ import annotations

import asyncio

import pytest

from homeport.cert import dns01
from homeport.errors import TransportError
from tests.fakes.txt_dns import TxtDns

FQDN = "_acme-challenge.home.example.org"


def test_waits_until_every_value_is_served() -> None:
    async def main() -> None:
        table: dict[str, set[str]] = {FQDN: {"base"}}
        server = TxtDns(table)
        port = await server.start()
        try:
            wanted = {FQDN: {"base", "wildcard"}}
            task = asyncio.create_task(dns01.wait_served(("127.0.0.1", port), wanted))
            while len(server.queries) < 3:  # asked three times, one of two values served
                server.asked.clear()
                await server.asked.wait()
            assert not task.done()
            table[FQDN] = {"base", "wildcard", "someone-else's"}
            await asyncio.wait_for(task, timeout=30)
        finally:
            server.close()
        assert server.queries[0] == f"{FQDN.lower()} TXT"

    asyncio.run(main())


def test_gives_up_with_the_names_still_missing() -> None:
    async def main() -> None:
        server = TxtDns({})
        port = await server.start()
        try:
            with pytest.raises(TransportError, match=f"did not serve the challenge at {FQDN}"):
                await dns01.wait_served(("127.0.0.1", port), {FQDN: {"v"}}, limit=0.2)
        finally:
            server.close()

    asyncio.run(main())
