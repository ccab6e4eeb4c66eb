"""Drive a provider's flow against its fake over real loopback HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence

import aiohttp

from homeport.core.update import HostUpdate, UpdateResult
from homeport.io.provider_client import render_flow_dry_run, run_flow
from homeport.providers.base import Provider
from tests.fakes.base import FakeServer

MakeProvider = Callable[[str], Provider]  # the fake's base URL -> a provider pointed at it


def drive(
    make: MakeProvider, fake: FakeServer, hosts: Sequence[HostUpdate], *forced: str
) -> list[UpdateResult]:
    """Run ``make(url).update(hosts)`` against ``fake`` (which answers ``forced`` first)."""

    async def main() -> list[UpdateResult]:
        async with fake, aiohttp.ClientSession() as session:
            fake.respond(*forced)
            return await run_flow(make(fake.url).update(hosts), session, timeout=10)

    return asyncio.run(main())


def dry_run(provider: Provider, hosts: Sequence[HostUpdate]) -> list[str]:
    return render_flow_dry_run(provider.update(hosts))


def assert_secret_free(texts: Iterable[str], secrets: Iterable[str]) -> None:
    for chunk in texts:
        for secret in secrets:
            assert secret not in chunk, f"secret {secret[:3]}... leaked into {chunk[:80]!r}"


def result_texts(results: Sequence[UpdateResult]) -> list[str]:
    return [f"{r.code} {r.message}" for r in results]
