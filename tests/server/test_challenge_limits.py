"""Failure budgets and the per-host rate on the challenge APIs, with time injected:
bad TSIG keys spend the source's budget (then nothing is verified), and a valid key
or host secret is held to the per-host update rate like every other update API."""

from __future__ import annotations

import asyncio
from pathlib import Path

import dns.message
import dns.name
import dns.rcode
import dns.tsig
import dns.update
import prometheus_client

from homeport.core.update_plan import Principal
from homeport.core.zone import Catalog
from homeport.server.api_challenge import set_challenge
from homeport.server.config import ServerConfig
from homeport.server.context import ApiContext
from homeport.server.dns_update import UpdateHandler
from homeport.server.service import DdnsService
from homeport.server.store import Store
from tests.server.test_update_fuzz import CHALLENGE, HOST, ZONE, _provision

ADDRESS = b"\xc0\x00\x02\x07"  # 192.0.2.7 as a TCP peer


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def _update(key: dns.tsig.Key, value: str) -> bytes:
    msg = dns.update.UpdateMessage(ZONE)
    msg.add(CHALLENGE, 60, "TXT", value)
    msg.use_tsig(key)
    return msg.to_wire()


async def _with_handler(data: Path, work: object) -> None:
    store = await Store.open(data)
    service = DdnsService(store, Catalog())
    await service.start()
    clock = Clock()
    config = ServerConfig.build({"data": data})  # limits on, the defaults
    api = ApiContext(service, config, prometheus_client.CollectorRegistry(), clock=clock)
    try:
        await work(UpdateHandler(service, api, asyncio.get_running_loop()), api, clock)  # type: ignore[operator]
    finally:
        api.login.passwords.close()
        await service.stop()
        await store.close()


def test_bad_keys_spend_the_source_budget(tmp_path: Path) -> None:
    data = tmp_path / "data"
    key = asyncio.run(_provision(data))
    wrong = dns.tsig.Key(key.name, b"w" * 32, key.algorithm)
    limits = ServerConfig.build({"data": data}).limits

    async def work(handler: UpdateHandler, api: ApiContext, clock: Clock) -> None:
        answers = []
        for _ in range(limits.failed_auth_burst + 2):
            resp = await handler.handle(_update(wrong, "a" * 43), ADDRESS, tcp=True)
            assert resp is not None
            answers.append(dns.message.from_wire(resp, keyring=False).rcode())
        # Each failure is BADSIG (NOTAUTH) until the budget is spent; then REFUSED
        # without looking at the MAC: no more guesses are checked from this source.
        assert answers[: limits.failed_auth_burst] == [dns.rcode.NOTAUTH] * limits.failed_auth_burst
        assert answers[-1] == dns.rcode.REFUSED
        # The budget grows back with time (injected): a good key works again.
        clock.now += 3600
        resp = await handler.handle(_update(key, "b" * 43), ADDRESS, tcp=True)
        assert resp is not None
        assert dns.message.from_wire(resp, keyring=False).rcode() == dns.rcode.NOERROR

    asyncio.run(_with_handler(data, work))


def test_the_per_host_rate_holds_for_challenges(tmp_path: Path) -> None:
    data = tmp_path / "data"
    key = asyncio.run(_provision(data))
    limits = ServerConfig.build({"data": data}).limits

    async def work(handler: UpdateHandler, api: ApiContext, clock: Clock) -> None:
        rcodes = []
        for i in range(limits.host_burst + 1):
            value = chr(ord("a") + i % 8) * 43
            resp = await handler.handle(_update(key, value), ADDRESS, tcp=True)
            assert resp is not None
            rcodes.append(dns.message.from_wire(resp, keyring=False).rcode())
        assert rcodes[:-1] == [dns.rcode.NOERROR] * limits.host_burst
        assert rcodes[-1] == dns.rcode.REFUSED
        # The HTTP APIs share the host's rate.
        result = await set_challenge(
            api,
            Principal("host", HOST),
            CHALLENGE,
            "z" * 43,
            add=True,
            source=None,
            api_name="httpreq",
        )
        assert result.status == 429
        clock.now += 3600
        result = await set_challenge(
            api,
            Principal("host", HOST),
            CHALLENGE,
            "z" * 43,
            add=True,
            source=None,
            api_name="httpreq",
        )
        assert result.status == 200

    asyncio.run(_with_handler(data, work))
