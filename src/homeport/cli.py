"""The ``homeport`` command.

Subcommands live beside the code they drive and are imported only when used,
so ``homeport agent run`` never pays for the server's imports (the agent's idle
RSS is a benchmark). Every :class:`~homeport.errors.HomeportError` becomes one
line on stderr and its exit code; a traceback means a bug. A subcommand whose
optional extra is not installed says which one to install; one whose module
fails to import otherwise is a bug and fails loudly, never hidden.
"""

from __future__ import annotations

import importlib
import re
import sys
from typing import Any

import click

from homeport import __version__
from homeport.errors import ConfigError, HomeportError

# name -> "module:attribute" of a click command; imported on first use.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "server": ("homeport.server.commands:server", "run and administer a dynamic-DNS provider"),
    "agent": ("homeport.agent.commands:agent", "keep names pointed at this network"),
    "ip": ("homeport.agent.commands:ip", "show the public addresses and which sources agreed"),
    "map": ("homeport.portmap.commands:map_", "add, list and remove router port mappings"),
    "cert": ("homeport.cert.commands:cert", "obtain and renew TLS certificates (ACME DNS-01)"),
    "proxy": (
        "homeport.proxy.commands:proxy",
        "print a Caddy, nginx or haproxy config with homeport's certificate",
    ),
    "tunnel": (
        "homeport.agent.tunnel_command:tunnel",
        "reach a service behind CGNAT through a homeport relay",
    ),
    "doctor": (
        "homeport.doctor.commands:doctor",
        "find the broken hop between a service and the world",
    ),
}


# name -> the pyproject.toml extra whose distributions the subcommand needs beyond the base
# install (`pip install homeport` is the agent, ip, map and doctor).
EXTRAS: dict[str, str] = {"server": "server"}


class LazyGroup(click.Group):
    """A group whose subcommands are imported when first looked up."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = SUBCOMMANDS.get(cmd_name)
        if target is None:
            return None
        extra = EXTRAS.get(cmd_name)
        missing = missing_distributions(extra) if extra else []
        if missing:
            raise ConfigError(
                f"`homeport {cmd_name}` needs the {extra} extra: pip install 'homeport[{extra}]'"
                f" (not installed: {', '.join(missing)})"
            )
        # Anything the import raises now is a bug in homeport: let it keep its traceback.
        module_name, attr = target[0].split(":")
        command = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Listing help must not import every subsystem: use the short texts above.
        rows = [(name, SUBCOMMANDS[name][1]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


# A Requires-Dist entry: the distribution's name, then an optional `; extra == "x"` marker.
_REQUIRES_DIST = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(.*?)(?:;(.*))?$")


def missing_distributions(extra: str) -> list[str]:
    """The distributions that homeport's installed metadata lists for ``extra`` and that are
    not installed; empty when homeport runs from a source tree without metadata."""
    from importlib import metadata

    try:
        requires = metadata.requires("homeport") or []
    except metadata.PackageNotFoundError:
        return []
    missing = []
    for line in requires:
        match = _REQUIRES_DIST.match(line)
        if match is None or match.group(1) == "homeport":
            continue
        marker = (match.group(3) or "").replace("'", '"')
        if f'extra == "{extra}"' not in marker:
            continue
        try:
            metadata.distribution(match.group(1))
        except metadata.PackageNotFoundError:
            missing.append(match.group(1))
    return missing


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="homeport")
def cli() -> None:
    """Keep a service at home reachable from the internet at a stable name."""


def main(argv: list[str] | None = None) -> Any:
    """Run the CLI; one line and an exit code for every HomeportError."""
    try:
        return cli.main(args=argv, prog_name="homeport", standalone_mode=False)
    except HomeportError as exc:
        click.echo(f"homeport: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("homeport: aborted", err=True)
        sys.exit(130)
    except click.UsageError as exc:
        # One line, like every other error; the usage text is one --help away.
        where = exc.ctx.command_path if exc.ctx is not None else "homeport"
        click.echo(f"homeport: error: {exc.format_message()} (see '{where} --help')", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        click.echo(f"homeport: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
