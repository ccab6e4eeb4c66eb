"""``homeport tunnel NAME:PORT --relay HOST:PORT``: one tunnel in the foreground.

Prints one JSON line when the relay first welcomes it (the public ports granted), logs
every later change on stderr, exits 1 with one line when the relay refuses for good
(bad secret, a forbidden claim, a certificate that is not the pinned one), and 0 on
Ctrl-C or SIGTERM. Transient failures are retried for ever (:mod:`homeport.agent.tunnel`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import click

from homeport.agent.schema import local_address, pinned_fingerprint, relay_address
from homeport.agent.tunnel import LocalRoute, Status, Target, TunnelClient
from homeport.errors import ConfigError, UsageError
from homeport.proto import relay

T = TypeVar("T")
SECRET_ENV = "HOMEPORT_TUNNEL_SECRET"  # noqa: S105 (a variable name)


def _checked(check: Callable[[str], T], value: str, what: str) -> T:
    """The schema's own check of a [[tunnel]] setting, as a one-line usage error."""
    try:
        return check(value)
    except ValueError as exc:
        raise UsageError(f"{what}: {exc}") from None


def read_secret(path: str | None) -> str:
    if path is not None:
        try:
            with open(path, encoding="utf-8") as handle:
                secret = handle.readline().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the secret file {path}: {exc.strerror}") from None
        if not secret:
            raise ConfigError(f"the secret file {path} is empty")
        return secret
    secret = os.environ.get(SECRET_ENV, "").strip()
    if not secret:
        raise UsageError(f"give the host's secret with --secret-file FILE (or ${SECRET_ENV})")
    return secret


def loop_runner() -> Callable[[Coroutine[Any, Any, int]], int]:
    """uvloop when installed (the `speed` extra: the splice is faster on it)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    return uvloop.run


def watch_addresses(nudge: Callable[[], None]) -> Callable[[], None]:
    """Call ``nudge`` on each local address change (netlink); returns the closer."""
    from homeport.io import netlink

    sock = netlink.open_socket()
    if sock is None:
        return lambda: None
    loop = asyncio.get_running_loop()

    def readable() -> None:
        if netlink.drain(sock):
            nudge()

    loop.add_reader(sock.fileno(), readable)

    def close() -> None:
        loop.remove_reader(sock.fileno())
        sock.close()

    return close


async def run_one(target: Target) -> int:
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, main.cancel)
    announced = False

    def on_status(status: Status) -> None:
        nonlocal announced
        if status.state == "up" and not announced:
            announced = True
            line = {"ready": True, **status.as_json()}
            sys.stdout.write(json.dumps(line) + "\n")
            sys.stdout.flush()

    client = TunnelClient(target, on_status=on_status)
    close = watch_addresses(client.nudge)
    try:
        await client.run()
    except asyncio.CancelledError:
        return 0
    finally:
        close()
    return 0


@click.command()
@click.argument("name_port", metavar="NAME:PORT")
@click.option("--relay", "relay_", required=True, help="the relay's control address HOST:PORT")
@click.option("--local", help="the home service ADDR:PORT (default 127.0.0.1:PORT)")
@click.option("--kind", type=click.Choice(relay.KINDS), default="http", show_default=True)
@click.option("--secret-file", type=click.Path(dir_okay=False), help="the host's secret")
@click.option("--fingerprint", help="sha256:... of the relay's certificate (pin)")
@click.option("--ca", type=click.Path(dir_okay=False), help="CA file for the relay's certificate")
@click.option("--proxy-protocol", is_flag=True, help="PROXY v2 header toward the local service")
@click.option("-v", "--verbose", count=True, help="debug logging")
def tunnel(
    name_port: str,
    relay_: str,
    local: str | None,
    kind: relay.Kind,
    secret_file: str | None,
    fingerprint: str | None,
    ca: str | None,
    proxy_protocol: bool,
    verbose: int,
) -> None:
    """Run one tunnel to a homeport relay in the foreground."""
    from homeport.agent.commands import setup_logging

    setup_logging(verbose)
    name, sep, port_text = name_port.rpartition(":")
    if not sep or not name or not port_text.isdigit() or int(port_text) > 65535:
        raise UsageError(f"give NAME:PORT, e.g. myhome.example.net:888, not {name_port[:80]!r}")
    port = int(port_text)
    if port == 0 and kind != "tcp":
        raise UsageError("port 0 (any public port) is for --kind tcp only")
    if local is None and port == 0:
        raise UsageError("--kind tcp with port 0 needs --local ADDR:PORT")
    relay_at = _checked(relay_address, relay_, "--relay")
    local_at = _checked(local_address, local or f"127.0.0.1:{port}", "--local")
    pin = _checked(pinned_fingerprint, fingerprint or "", "--fingerprint")
    target = Target(
        relay=relay_at,
        host=name.lower().rstrip("."),
        secret=read_secret(secret_file),
        routes=(LocalRoute(kind, port, local_at, proxy_protocol),),
        fingerprint=pin or None,
        ca=ca,
    )
    code = loop_runner()(run_one(target))
    with contextlib.suppress(BrokenPipeError):
        sys.stdout.flush()
    sys.exit(code)
