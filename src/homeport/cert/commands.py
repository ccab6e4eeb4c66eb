"""``homeport cert issue|renew|list|revoke``: ACME DNS-01 certificates (docs/cert.md).

The TXT records go through the agent's provider for the host (``--config``, the agent's
TOML file); a ``[[certificate]]`` entry there gives the defaults, options override them.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from homeport.agent.commands import DEFAULT_CONFIG, setup_logging
from homeport.errors import EXIT_UNAVAILABLE

# The EAB HMAC key is a secret: never an option (it would show in `ps` and shell history).
EAB_KEY_ENV = "HOMEPORT_EAB_HMAC_KEY"


def _config(path: str | None) -> Any:
    from homeport.agent import config as config_mod

    origin = path or str(DEFAULT_CONFIG)
    return config_mod.load(origin, ddclient=not origin.endswith(".toml"))


def _root(option: str | None, cfg: Any) -> Path:
    from homeport.agent.commands import _state_dir
    from homeport.cert.renew import CERT_SUBDIR

    return Path(option) if option else _state_dir(None, cfg) / CERT_SUBDIR


def _section(cfg: Any, name: str, overrides: dict[str, Any]) -> Any:
    """NAME's [[certificate]] entry (or a fresh one), with the options given applied."""
    import pydantic

    from homeport.agent.schema import CertificateSection
    from homeport.errors import UsageError

    base = next((s for s in cfg.certificates if s.name == name.lower().rstrip(".")), None)
    data = base.model_dump() if base is not None else {"name": name}
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return CertificateSection.model_validate(data)
    except pydantic.ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UsageError(f"{where}: {first['msg']}") from None


config_option = click.option(
    "--config", "-c", "config", metavar="FILE", help=f"agent TOML config [{DEFAULT_CONFIG}]"
)
dir_option = click.option(
    "--cert-dir", metavar="DIR", help="where NAME/ directories go [STATE_DIR/certs]"
)
acme_options = [
    click.option(
        "--acme",
        "acme",
        metavar="URL",
        help="ACME directory URL, or letsencrypt / letsencrypt-staging [letsencrypt]",
    ),
    click.option("--staging", is_flag=True, help="Let's Encrypt's staging CA"),
    click.option("--ca-bundle", metavar="FILE", help="trust this PEM for the CA's HTTPS"),
    click.option("--email", metavar="ADDRESS", help="account contact for expiry mail"),
    click.option(
        "--eab-kid",
        metavar="KID",
        help=f"External Account Binding key id (HMAC key from ${EAB_KEY_ENV})",
    ),
]


_F = TypeVar("_F", bound=Callable[..., Any])


def _with(options: list[Any]) -> Callable[[_F], _F]:
    def apply(function: _F) -> _F:
        for option in reversed(options):
            function = option(function)
        return function

    return apply


def _acme_overrides(acme: str | None, staging: bool, **given: Any) -> dict[str, Any]:
    if staging and acme:
        raise click.UsageError("give --acme or --staging, not both")
    overrides = dict(given, acme="letsencrypt-staging" if staging else acme)
    if given.get("eab_kid"):
        overrides["eab_hmac_key"] = os.environ.get(EAB_KEY_ENV)
        if not overrides["eab_hmac_key"]:
            raise click.UsageError(f"--eab-kid needs the HMAC key in ${EAB_KEY_ENV}")
    return overrides


@click.group()
def cert() -> None:
    """Certificates for your names through DNS-01 (no inbound port needed)."""
    from homeport.cert import require_extra

    require_extra()


@cert.command()
@click.argument("name")
@config_option
@dir_option
@_with(acme_options)
@click.option("--provider", metavar="LABEL", help="the [[provider]] that sets the TXT records")
@click.option("--no-wildcard", is_flag=True, help="NAME only, without *.NAME")
@click.option("--key-type", type=click.Choice(["ec256", "ec384"]), help="[ec256]")
@click.option("--dns", metavar="HOST:PORT", help="the zone's DNS server to see the TXT on")
@click.option("--hook", metavar="COMMAND", help="run after the files changed")
@click.option("-v", "--verbose", count=True)
def issue(
    name: str,
    config: str | None,
    cert_dir: str | None,
    acme: str | None,
    staging: bool,
    no_wildcard: bool,
    verbose: int,
    **given: Any,
) -> None:
    """Obtain a certificate for NAME and *.NAME now, and write it to disk."""
    from homeport.cert import renew

    setup_logging(verbose)
    cfg = _config(config)
    overrides = _acme_overrides(acme, staging, **given)
    if no_wildcard:
        overrides["wildcard"] = False
    if cert_dir:
        overrides["directory"] = cert_dir
    section = _section(cfg, name, overrides)
    entry = renew.entry_of(section, cfg, _root(None, cfg).parent)
    outcome = asyncio.run(renew.renew(entry, time.time(), force=True, emit=click.echo))
    _report(outcome)


@cert.command(name="renew")
@click.argument("names", nargs=-1)
@config_option
@click.option("--force", is_flag=True, help="renew even if not due")
@click.option("-v", "--verbose", count=True)
def renew_(names: tuple[str, ...], config: str | None, force: bool, verbose: int) -> None:
    """Renew the config's [[certificate]] entries that are due (or NAMES)."""
    from homeport.cert import renew

    setup_logging(verbose)
    cfg = _config(config)
    entries = renew.entries(cfg, _root(None, cfg).parent, names)
    if not entries:
        click.echo(f"no [[certificate]] in {cfg.origin}")
        return

    async def run() -> list[Any]:
        now = time.time()
        return [await renew.renew(e, now, force=force, emit=click.echo) for e in entries]

    failed = False
    for outcome in asyncio.run(run()):
        failed |= _report(outcome, exit_on_error=False)
    if failed:
        raise SystemExit(EXIT_UNAVAILABLE)


def _report(outcome: Any, *, exit_on_error: bool = True) -> bool:
    from homeport.cert.store import utc

    if outcome.failure is not None:
        if exit_on_error:
            failure = outcome.failure
            failure.message = f"{outcome.name}: {failure.message}"
            raise failure
        click.echo(f"homeport: error: {outcome.name}: {outcome.error}", err=True)
        return True
    issued = outcome.issued
    if issued is None:
        click.echo(
            f"{outcome.name}: not due ({outcome.decision.reason}; renew after "
            f"{utc(outcome.decision.at)})"
        )
        return False
    click.echo(
        f"{outcome.name}: certificate for {', '.join(issued.names)} in {issued.path} "
        f"(valid until {utc(issued.not_after)})"
    )
    return False


@cert.command(name="list")
@config_option
@dir_option
def list_(config: str | None, cert_dir: str | None) -> None:
    """Show the certificates on disk: names, expiry, when they renew."""
    from homeport.cert import store
    from homeport.core import certrenew

    if cert_dir:
        root = Path(cert_dir)
    elif config is None and not DEFAULT_CONFIG.exists():
        from homeport.agent.files import default_state_dir
        from homeport.cert.renew import CERT_SUBDIR

        root = default_state_dir() / CERT_SUBDIR  # no agent config: the default place
    else:
        root = _root(None, _config(config))
    found = store.listing(root)
    if not found:
        click.echo(f"no certificates in {root}")
        return
    now = time.time()
    for stored in found:
        current = stored.current
        assert current is not None  # listing() keeps only names with a certificate
        decision = certrenew.decide(current, current.names, now)
        when = "due now" if decision.due else f"renews after {store.utc(decision.at)}"
        click.echo(
            f"{stored.name}  {','.join(sorted(current.names))}  "
            f"expires {store.utc(current.not_after)}  {when}"
        )


@cert.command()
@click.argument("name")
@config_option
@dir_option
@_with(acme_options)
def revoke(
    name: str,
    config: str | None,
    cert_dir: str | None,
    acme: str | None,
    staging: bool,
    **given: Any,
) -> None:
    """Revoke NAME's certificate (the files stay; renew or delete them)."""
    from homeport.cert import order

    cfg = _config(config)
    overrides = _acme_overrides(acme, staging, **given)
    if cert_dir:
        overrides["directory"] = cert_dir
    section = _section(cfg, name, overrides)
    from homeport.cert import renew

    entry = renew.entry_of(section, cfg, _root(None, cfg).parent)
    asyncio.run(order.revoke(entry.request, entry.root))
    click.echo(f"{entry.request.name}: revoked")
