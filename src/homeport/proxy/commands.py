"""``homeport proxy caddy|nginx|haproxy``: print a TLS proxy config (and a systemd unit)."""

from __future__ import annotations

import click

from homeport.proxy import render


@click.command()
@click.argument("kind", type=click.Choice(render.KINDS))
@click.option("--name", required=True, help="the certificate's name (homeport cert issue NAME)")
@click.option(
    "--service",
    "services",
    multiple=True,
    metavar="PORT=URL",
    help="public TLS port -> local upstream: 443=http://127.0.0.1:888, 8443=h2c://127.0.0.1:8000",
)
@click.option(
    "--cert-dir",
    default="/var/lib/homeport/certs",
    show_default=True,
    help="where homeport cert keeps NAME/fullchain.pem and NAME/privkey.pem",
)
@click.option("--bind", metavar="ADDRESS", help="listen on this address only [all]")
@click.option("--admin", metavar="ADDRESS|off", help="Caddy's admin endpoint [localhost:2019]")
@click.option("--systemd", is_flag=True, help="print a systemd unit for the proxy instead")
@click.option("--config-path", metavar="FILE", help="where the unit finds the config")
def proxy(
    kind: str,
    name: str,
    services: tuple[str, ...],
    cert_dir: str,
    bind: str | None,
    admin: str | None,
    systemd: bool,
    config_path: str | None,
) -> None:
    """Print a KIND config that terminates TLS for NAME with homeport's certificate."""
    site = render.site(name, cert_dir, services, bind=bind, admin=admin)
    if systemd:
        click.echo(render.systemd_unit(kind, site, config_path), nl=False)
        return
    click.echo(render.RENDERERS[kind](site), nl=False)
