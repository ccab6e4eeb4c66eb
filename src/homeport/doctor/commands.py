"""``homeport doctor``: say which hop between a local service and the internet is broken."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

import click

from homeport.core import doctor as verdicts
from homeport.core.doctor import Check, Verdict
from homeport.doctor.gather import ServerAccess
from homeport.doctor.run import DEFAULT_WAIT, DoctorPlan, Target
from homeport.errors import UsageError

SYMBOLS = {Verdict.OK: "ok", Verdict.WARN: "warn", Verdict.FAIL: "FAIL", Verdict.SKIPPED: "skip"}
STYLES = {
    Verdict.OK: "green",
    Verdict.WARN: "yellow",
    Verdict.FAIL: "bold red",
    Verdict.SKIPPED: "dim",
}


def parse_target(text: str, tls_ports: set[int]) -> Target:
    name, sep, port_text = text.rpartition(":")
    if not sep or not name or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise UsageError(f"targets are NAME:PORT, e.g. myhome.example.net:888 (got {text!r})")
    port = int(port_text)
    return Target(name.lower().rstrip("."), port, tls=port in tls_ports or port == 443)


def parse_dns(text: str) -> tuple[str, int]:
    from homeport.core.hostport import parse_hostport

    return parse_hostport(text, default_port=53)


def read_password(env: str | None, file: Path | None) -> str | None:
    if env:
        value = os.environ.get(env)
        if value is None:
            raise UsageError(f"--password-env: ${env} is not set")
        return value
    if file is not None:
        try:
            return file.read_text().strip()
        except OSError as exc:
            raise UsageError(f"--password-file: cannot read {file}: {exc.strerror}") from exc
    return None


def render(checks: list[Check]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("hop", "", "what was found", "fix", box=None, show_lines=False)
    for check in checks:
        table.add_row(
            check.hop + (f"\n{check.subject}" if check.subject else ""),
            f"[{STYLES[check.verdict]}]{SYMBOLS[check.verdict]}[/]",
            check.evidence,
            check.fix,
        )
    console = Console(width=int(os.environ.get("COLUMNS", "140")))
    console.print(table)
    worst = verdicts.worst(checks)
    console.print(f"\nverdict: [{STYLES[worst]}]{SYMBOLS[worst]}[/]")


def as_json(checks: list[Check]) -> str:
    return json.dumps(
        {
            "verdict": verdicts.worst(checks).name.lower(),
            "checks": [
                {
                    "hop": c.hop,
                    "subject": c.subject,
                    "verdict": c.verdict.name.lower(),
                    "evidence": c.evidence,
                    "fix": c.fix,
                    "details": c.details,
                }
                for c in checks
            ],
        },
        indent=2,
    )


@click.command()
@click.argument("targets", nargs=-1)
@click.option(
    "--server",
    "server_urls",
    multiple=True,
    help="A homeport server URL (checkip and the probe); repeat for an IPv6 URL.",
)
@click.option("--login", help="The host name the server knows (for the probe).")
@click.option("--password-env", help="Environment variable holding the host's secret.")
@click.option(
    "--password-file", type=click.Path(dir_okay=False, path_type=Path), help="File with the secret."
)
@click.option(
    "--dns",
    "dns_server",
    help="A DNS server for the zone, HOST[:PORT] (default: the server's host).",
)
@click.option("--gateway", help="The router's IP address (default: the default route's).")
@click.option(
    "--tls", "tls_ports", multiple=True, type=int, help="Ports that speak TLS (443 always)."
)
@click.option("--no-router", is_flag=True, help="Skip the router (UPnP/NAT-PMP/PCP) checks.")
@click.option("--timeout", type=float, default=DEFAULT_WAIT, show_default=True)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    help="The agent's TOML config: its homeport server, hosts and [[mapping]] ports.",
)
@click.option("--json", "as_json_flag", is_flag=True, help="Print JSON.")
def doctor(
    targets: tuple[str, ...],
    server_urls: tuple[str, ...],
    login: str | None,
    password_env: str | None,
    password_file: Path | None,
    dns_server: str | None,
    gateway: str | None,
    tls_ports: tuple[int, ...],
    no_router: bool,
    timeout: float,
    config_file: str | None,
    as_json_flag: bool,
) -> None:
    """Walk every hop from a local service (NAME:PORT) to an outside client.

    Checks, in order: the service listens; this host's LAN address is stable; the
    router maps the port; no CGNAT or double NAT; the name's A/AAAA at the zone's
    authoritative servers equal the public addresses; the port is reachable from
    outside (the server's probe, IPv4 and IPv6); a TLS port's certificate covers
    the name. The exit code is the worst verdict: 0 ok, 1 warn, 2 fail.
    """
    from homeport.doctor.run import run

    if config_file is not None and not targets:
        from homeport.agent import config as agent_config
        from homeport.doctor.fromconfig import plan_from_config

        plan = plan_from_config(agent_config.load(config_file), wait=timeout, gateway=gateway)
        plan = replace(
            plan, router=not no_router, dns=parse_dns(dns_server) if dns_server else None
        )
        _finish(asyncio.run(run(plan)), as_json_flag)
    if not targets:
        raise UsageError("name at least one target, e.g. `homeport doctor myhome.example.net:888`")
    plan = DoctorPlan(
        targets=tuple(parse_target(t, set(tls_ports)) for t in targets),
        servers=tuple(
            ServerAccess(url.rstrip("/"), login, password)
            for url in server_urls
            for password in [read_password(password_env, password_file)]
        ),
        dns=parse_dns(dns_server) if dns_server else None,
        gateway=gateway,
        wait=timeout,
        router=not no_router,
    )
    _finish(asyncio.run(run(plan)), as_json_flag)


def _finish(checks: list[Check], as_json_flag: bool) -> None:
    if as_json_flag:
        click.echo(as_json(checks))
    else:
        render(checks)
    sys.exit(verdicts.exit_code(checks))
