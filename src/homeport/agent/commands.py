"""``homeport agent run|status|check-config`` and ``homeport ip``."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from homeport.errors import EXIT_UNAVAILABLE, ConfigError

# Where a packaged install keeps its config (the shipped systemd unit names it).
DEFAULT_CONFIG = Path("/etc/homeport/agent.toml")

log = logging.getLogger("homeport.agent")

# syslog priorities journald reads from a "<N>" line prefix (sd-daemon(3)).
_PRIORITY = {
    logging.DEBUG: 7,
    logging.INFO: 6,
    logging.WARNING: 4,
    logging.ERROR: 3,
    logging.CRITICAL: 2,
}


class _JournalFormatter(logging.Formatter):
    """No timestamp (journald adds its own); the level as a syslog priority prefix."""

    def format(self, record: logging.LogRecord) -> str:
        return f"<{_PRIORITY.get(record.levelno, 6)}>{record.getMessage()}"


def setup_logging(verbose: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("JOURNAL_STREAM") or os.environ.get("INVOCATION_ID"):
        handler.setFormatter(_JournalFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger("homeport")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose > 0 else logging.INFO)
    root.propagate = False


def _fail(exc: ConfigError) -> NoReturn:
    """Every problem on its own line, then the config exit code; never a traceback."""
    for problem in exc.problems:
        click.echo(f"homeport: error: {problem}", err=True)
    sys.exit(exc.exit_code)


def _loader(
    config: str | None, ddclient_conf: str | None, *, need_providers: bool = True
) -> Callable[[], Any]:
    from homeport.agent import config as config_mod

    if config and ddclient_conf:
        raise click.UsageError("give --config or --ddclient-conf, not both")
    origin, kind = _origin(config, ddclient_conf)
    return lambda: config_mod.load(origin, ddclient=kind, need_providers=need_providers)


def _load(loader: Callable[[], Any]) -> Any:
    try:
        cfg = loader()
    except ConfigError as exc:
        _fail(exc)
    for warning in cfg.warnings:
        click.echo(f"homeport: warning: {warning}", err=True)
    return cfg


def _state_dir(option: str | None, cfg: Any = None) -> Path:
    from homeport.agent.files import default_state_dir

    if option:
        return Path(option)
    if cfg is not None and cfg.agent.state_dir:
        return Path(cfg.agent.state_dir)
    return default_state_dir()


config_option = click.option(
    "--config", "-c", "config", metavar="FILE", help="homeport agent TOML config"
)
ddclient_option = click.option(
    "--ddclient-conf", metavar="FILE", help="run from an existing ddclient.conf"
)
state_option = click.option(
    "--state-dir", metavar="DIR", help="where the agent remembers what it published"
)


@click.group()
def agent() -> None:
    """Keep host names pointed at this network's public addresses."""


@agent.command()
@config_option
@ddclient_option
@state_option
@click.option("--once", is_flag=True, help="one cycle, then exit (non-zero if something failed)")
@click.option("--dry-run", is_flag=True, help="print the requests a cycle would send; send nothing")
@click.option(
    "--force",
    is_flag=True,
    help="with --once: send every host's address even if unchanged (a record changed elsewhere)",
)
@click.option("-v", "--verbose", count=True, help="debug logging (each source's answer)")
def run(
    config: str | None,
    ddclient_conf: str | None,
    state_dir: str | None,
    once: bool,
    dry_run: bool,
    force: bool,
    verbose: int,
) -> None:
    """Detect the public addresses and update the configured hosts."""
    setup_logging(verbose)
    if config and ddclient_conf:
        raise click.UsageError("give --config or --ddclient-conf, not both")
    if force and not (once or dry_run):
        # A daemon re-sending unchanged addresses every cycle is the abusive client
        # the providers block (repeated ``nochg``).
        raise click.UsageError("--force needs --once (or --dry-run)")
    if not (once or dry_run):
        # The daemon's parent never loads the config model (pydantic): its children do.
        from homeport.agent.supervisor import Supervisor

        origin, kind = _origin(config, ddclient_conf)
        sys.exit(Supervisor(origin, kind, Path(state_dir) if state_dir else None).run())
    cfg = _load(_loader(config, ddclient_conf))
    import asyncio

    from homeport.agent.daemon import Agent

    agent_ = Agent(cfg, _state_dir(state_dir, cfg), dry_run=dry_run, force=force, emit=click.echo)
    report = asyncio.run(agent_.cycle())
    if not report.detected:
        reasons = "; ".join(f"IPv{f}: {v.reason}" for f, v in sorted(report.verdicts.items()))
        click.echo(
            f"homeport: error: nothing published: {reasons or 'no family enabled'}", err=True
        )
        sys.exit(EXIT_UNAVAILABLE)
    if report.failed:
        sys.exit(EXIT_UNAVAILABLE)


def _origin(config: str | None, ddclient_conf: str | None) -> tuple[str, bool | None]:
    if ddclient_conf:
        return ddclient_conf, True
    if config:
        return config, False
    if not DEFAULT_CONFIG.exists():
        raise click.UsageError(
            "no config: give --config FILE or --ddclient-conf FILE"
            f" ({DEFAULT_CONFIG} does not exist)"
        )
    return str(DEFAULT_CONFIG), False


@agent.command()
@state_option
@config_option
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.option(
    "--doctor",
    "with_doctor",
    is_flag=True,
    help="Also run `homeport doctor` on the config's hosts and mapped ports (needs --config).",
)
def status(state_dir: str | None, config: str | None, as_json: bool, with_doctor: bool) -> None:
    """What the agent last published for each host, and what it waits for."""
    from homeport.agent.statefile import StateFile, read_tunnels
    from homeport.core import hoststate

    cfg = _load(_loader(config, None)) if config else None
    if with_doctor:
        if cfg is None:
            raise click.UsageError("--doctor needs --config FILE")
        _status_with_doctor(cfg, StateFile(_state_dir(state_dir, cfg)), as_json)
        return
    store = StateFile(_state_dir(state_dir, cfg))
    states = store.load()
    tunnels = read_tunnels(store.path.parent)
    if as_json:
        document = {name: hoststate.to_json(s) for name, s in sorted(states.items())}
        click.echo(
            json.dumps(
                {"state_file": str(store.path), "hosts": document, "tunnels": tunnels}, indent=2
            )
        )
        return
    for line in tunnel_lines(tunnels, time.time()):
        click.echo(line)
    if not states:
        if not tunnels:
            click.echo(f"no hosts in {store.path} yet")
        return
    now = time.time()
    for name, s in sorted(states.items()):
        if s.disabled_code:
            what = f"STOPPED after {s.disabled_code!r} until its config changes"
        elif s.retry_at and s.retry_at > now:
            what = f"retrying in {s.retry_at - now:.0f} s after {s.last_code!r}"
        else:
            what = f"ok ({s.last_code or 'never sent'})"
        addresses = " ".join(
            f"{label}={f.address}" for label, f in (("A", s.ipv4), ("AAAA", s.ipv6)) if f.address
        )
        click.echo(f"{name}: {what} {addresses}".rstrip())


def tunnel_lines(tunnels: list[dict[str, Any]], now: float) -> list[str]:
    """One line per [[tunnel]]: ``tunnel NAME http 888 via RELAY: up since ..., public port``."""
    lines = []
    for t in tunnels:
        head = f"tunnel {t.get('host')} {t.get('kind')} {t.get('port')} via {t.get('relay')}"
        state = str(t.get("state"))
        since = t.get("since")
        if state == "up":
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(since or now)))
            what = f"up since {when}, public port {t.get('public_port')}"
        elif state == "direct":
            what = "not relayed (mode auto: the router maps the port)"
        elif state == "stopped":
            what = f"STOPPED until its config changes: {t.get('error')}"
        else:
            error = t.get("error")
            what = f"{state}" + (f" ({error})" if error else "")
        lines.append(f"{head}: {what}")
    return lines


def _status_with_doctor(cfg: Any, store: Any, as_json: bool) -> None:
    import asyncio

    from homeport.core import doctor as verdicts
    from homeport.core import hoststate
    from homeport.doctor.commands import as_json as doctor_json
    from homeport.doctor.commands import render
    from homeport.doctor.fromconfig import plan_from_config
    from homeport.doctor.run import run

    checks = asyncio.run(run(plan_from_config(cfg)))
    states = store.load()
    if as_json:
        document = {name: hoststate.to_json(s) for name, s in sorted(states.items())}
        click.echo(
            json.dumps(
                {
                    "state_file": str(store.path),
                    "hosts": document,
                    "doctor": json.loads(doctor_json(checks)),
                },
                indent=2,
            )
        )
    else:
        for name, s in sorted(states.items()):
            click.echo(f"{name}: {s.last_code or 'never sent'}")
        render(checks)
    sys.exit(verdicts.exit_code(checks))


@agent.command("check-config")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--ddclient",
    "is_ddclient",
    is_flag=True,
    default=None,
    help="read FILE as ddclient.conf (default: unless it ends in .toml)",
)
def check_config(file: str, is_ddclient: bool | None) -> None:
    """Validate a config file; every problem on its own line with its line number."""
    from homeport.agent import config as config_mod

    cfg = _load(lambda: config_mod.load(file, ddclient=is_ddclient or None))
    hosts = sum(len(p.hosts) for p in cfg.providers)
    families = [
        f"IPv{f.family}: {len(f.sources)} source(s), {f.require} must agree"
        for f in (cfg.ipv4, cfg.ipv6)
        if f.enabled
    ]
    tunnels = f"; {len(cfg.tunnels)} tunnel(s)" if cfg.tunnels else ""
    click.echo(
        f"{file}: OK: {len(cfg.providers)} provider(s), {hosts} host(s); {'; '.join(families)}"
        + tunnels
    )


@click.command()
@config_option
@ddclient_option
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def ip(config: str | None, ddclient_conf: str | None, as_json: bool) -> None:
    """Show each source's answer and the verdict, for IPv4 and IPv6."""
    import asyncio

    from homeport.agent import config as config_mod
    from homeport.agent.detect import detect

    if config or ddclient_conf:
        cfg = _load(_loader(config, ddclient_conf, need_providers=False))
    else:
        cfg = config_mod.build({"ipv6": {"enabled": True}}, origin="defaults", need_providers=False)
    families = [f for f in (cfg.ipv4, cfg.ipv6) if f.enabled]

    async def gather() -> list[Any]:
        return list(await asyncio.gather(*(detect(f, cfg.agent.timeout) for f in families)))

    verdicts = asyncio.run(gather())
    if as_json:
        click.echo(json.dumps([_verdict_json(v) for v in verdicts], indent=2))
    else:
        for verdict in verdicts:
            click.echo(f"IPv{verdict.family}: {verdict.address or 'UNKNOWN'} ({verdict.reason})")
            for answer in verdict.answers:
                click.echo(f"  {answer.source:<32} {answer.address or 'failed: ' + answer.error}")
    if not any(v.address for v in verdicts):
        sys.exit(EXIT_UNAVAILABLE)


def _verdict_json(verdict: Any) -> dict[str, Any]:
    return {
        "family": verdict.family,
        "address": str(verdict.address) if verdict.address else None,
        "reason": verdict.reason,
        "agreeing": list(verdict.agreeing),
        "dissenting": list(verdict.dissenting),
        "answers": [
            {"source": a.source, "address": str(a.address) if a.address else None, "error": a.error}
            for a in verdict.answers
        ],
    }
