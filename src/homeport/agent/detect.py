"""Run a family's sources concurrently and decide by consensus."""

from __future__ import annotations

import asyncio

from homeport.agent import sources
from homeport.agent.config import FamilyConfig
from homeport.core.consensus import Answer, Verdict, decide
from homeport.errors import HomeportError


async def _ask(source: sources.SourceSettings, family: sources.Family, time_limit: float) -> Answer:
    label = source.describe()
    try:
        address = await sources.detector(source.type)(source, family, time_limit)
    except HomeportError as exc:
        return Answer(label, None, exc.message)
    except (OSError, ValueError) as exc:  # a source's foreign error, said in one line
        return Answer(label, None, f"{type(exc).__name__}: {exc}")
    return Answer(label, address)


async def detect(config: FamilyConfig, time_limit: float) -> Verdict:
    """Ask every source of one family at once; the verdict says who agreed."""
    answers = await asyncio.gather(*(_ask(s, config.family, time_limit) for s in config.sources))
    labels: dict[str, int] = {}
    unique = []
    for answer in answers:  # two sources with the same label stay distinguishable
        count = labels[answer.source] = labels.get(answer.source, 0) + 1
        name = answer.source if count == 1 else f"{answer.source}#{count}"
        unique.append(Answer(name, answer.address, answer.error))
    return decide(config.family, unique, require=config.require, allow_private=config.allow_private)
