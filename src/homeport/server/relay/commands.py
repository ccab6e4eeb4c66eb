"""``homeport server relay``: what an operator asks of the relay from the command line."""

from __future__ import annotations

from pathlib import Path

import click

from homeport.server.config import ServerConfig
from homeport.server.relay.cert import ensure_cert, fingerprint


@click.group()
def relay() -> None:
    """The relay (CGNAT fallback): its certificate."""


@relay.command("fingerprint")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--data", type=click.Path(file_okay=False, path_type=Path), default=None)
def fingerprint_cmd(config_file: Path | None, data: Path | None) -> None:
    """Print the relay certificate's fingerprint (sha256:...) for clients to pin.

    The self-signed certificate is made now if the relay has not made it yet, so it can
    be pinned before the server first runs.
    """
    overrides = {"data": data} if data is not None else {}
    if config_file is not None:
        config = ServerConfig.from_toml(config_file, **overrides)
    else:
        config = ServerConfig.build(overrides)
    cert, _key = ensure_cert(config.relay, config.data)
    click.echo(fingerprint(cert))
