"""Drive a provider's flow against its fake over real loopback HTTP, with the shipped runner."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence

from homeport.agent import publish
from homeport.core.update import HostUpdate, UpdateResult
from homeport.providers.base import Provider
from tests.fakes.base import FakeServer

MakeProvider = Callable[[str], Provider]  # the fake's base URL -> a provider pointed at it


def drive(
    make: MakeProvider, fake: FakeServer, hosts: Sequence[HostUpdate], *forced: str
) -> list[UpdateResult]:
    """Run ``make(url).update(hosts)`` against ``fake`` (which answers ``forced`` first)."""

    async def main() -> list[UpdateResult]:
        async with fake:
            fake.respond(*forced)
            return await publish.run(make(fake.url).update(hosts), time_limit=10)

    return asyncio.run(main())


def dry_run(provider: Provider, hosts: Sequence[HostUpdate]) -> list[str]:
    return publish.render(provider, hosts)


def assert_secret_free(texts: Iterable[str], secrets: Iterable[str]) -> None:
    for chunk in texts:
        for secret in secrets:
            assert secret not in chunk, f"secret {secret[:3]}... leaked into {chunk[:80]!r}"


def result_texts(results: Sequence[UpdateResult]) -> list[str]:
    return [f"{r.code} {r.message}" for r in results]
