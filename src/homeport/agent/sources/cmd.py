"""Run a command and take the first address it prints (ddclient's use=cmd, cmd-skip)."""

from __future__ import annotations

import asyncio
from typing import Literal

from homeport.agent.sources import Address, Family, SourceSettings
from homeport.errors import RemoteProtocolError, TransportError


class Settings(SourceSettings):
    type: Literal["cmd"] = "cmd"
    command: str  # run by /bin/sh, as ddclient does
    skip: str = ""

    def describe(self) -> str:
        return self.label or "cmd"


async def detect(settings: Settings, family: Family, time_limit: float) -> Address:
    from homeport.proto import checkip

    try:
        process = await asyncio.create_subprocess_shell(
            settings.command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
        )
    except OSError as exc:
        raise TransportError(f"cannot run command: {exc.strerror or exc}") from exc
    try:
        async with asyncio.timeout(time_limit):
            out, _ = await process.communicate()
    except TimeoutError as exc:
        process.kill()
        await process.wait()
        raise TransportError(f"command did not finish within {time_limit:g} s") from exc
    if process.returncode:
        raise RemoteProtocolError(f"command exited with status {process.returncode}")
    return checkip.find_address(out.decode("utf-8", "replace"), family, settings.skip)
