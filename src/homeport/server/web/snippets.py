"""Set-up snippets for one host, ready to copy: ddclient, inadyn, the homeport agent, routers.

Pure text: the caller passes the server's public ``host[:port]`` (as the browser reached
it), whether that was HTTPS, the host's name and its secret (or a placeholder when the
secret is not known any more: it is shown once, at creation or rotation).
"""

from __future__ import annotations

from dataclasses import dataclass

# Shown instead of the secret once it is gone: only its SHA-256 is stored.
SECRET_PLACEHOLDER = "YOUR-SECRET"  # noqa: S105 (a placeholder, not a secret)


@dataclass(frozen=True)
class Snippet:
    title: str
    filename: str  # where it goes, as the client's documentation names it
    text: str


@dataclass(frozen=True)
class Target:
    server: str  # host[:port] the browser used: what the clients should use too
    https: bool
    fqdn: str  # without the trailing dot
    secret: str | None

    @property
    def password(self) -> str:
        return self.secret if self.secret is not None else SECRET_PLACEHOLDER

    @property
    def scheme(self) -> str:
        return "https" if self.https else "http"


def _quoted(value: str) -> str:
    """ddclient's single-quoted value: our secrets (token_urlsafe) need no escaping."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def ddclient(t: Target) -> Snippet:
    # The seed guide's ddclient.conf (README "ddclient"), pointed at this server.
    text = (
        "daemon=600\n"
        "syslog=yes\n"
        f"ssl={'yes' if t.https else 'no'}\n"
        "protocol=dyndns2\n"
        f"use=web, web={t.scheme}://{t.server}/checkip, web-skip='IP Address'\n"
        f"server={t.server}\n"
        f"login={t.fqdn}\n"
        f"password={_quoted(t.password)}\n"
        f"{t.fqdn}\n"
    )
    return Snippet("ddclient", "/etc/ddclient.conf", text)


def inadyn(t: Target) -> Snippet:
    # inadyn 2.10 sends IPv6 as a separate request (myipv6=): one custom section per family.
    sections = []
    for name, key in (("homeport4", "myip"), ("homeport6", "myipv6")):
        sections.append(
            f"custom {name} {{\n"
            f"    username = {t.fqdn}\n"
            f'    password = "{t.password}"\n'
            f"    ssl = {'true' if t.https else 'false'}\n"
            f"    ddns-server = {t.server}\n"
            f'    ddns-path = "/nic/update?hostname=%h&{key}=%i"\n'
            f"    hostname = {t.fqdn}\n"
            "}\n"
        )
    text = "period = 600\nallow-ipv6 = true\n" + "".join(sections)
    return Snippet("inadyn", "/etc/inadyn.conf", text)


def agent(t: Target) -> Snippet:
    # docs/agent-config.md: the `homeport` provider speaks dyndns2 to this server.
    text = (
        "[[provider]]\n"
        'protocol = "homeport"\n'
        f'hosts = ["{t.fqdn}"]\n'
        f'server = "{t.server}"\n'
        f"ssl = {'true' if t.https else 'false'}\n"
        f'login = "{t.fqdn}"\n'
        f'password = "{t.password}"\n'
    )
    return Snippet("homeport agent", "/etc/homeport/agent.toml", text)


def router_fields(t: Target) -> list[tuple[str, str]]:
    """A router's "custom provider" page (FRITZ!Box, OpenWrt, pfSense/OPNsense, Netgear)."""
    # FRITZ!Box fills <domain>, <ipaddr>, <ip6addr>; others take the same URL with
    # their own placeholders, or just server, host name, user name and password.
    return [
        ("Update URL", f"{t.scheme}://{t.server}/nic/update?hostname=<domain>&myip=<ipaddr>"),
        ("Server", t.server),
        ("Domain name", t.fqdn),
        ("User name", t.fqdn),
        ("Password", t.password),
    ]


def snippets(t: Target) -> list[Snippet]:
    return [ddclient(t), inadyn(t), agent(t)]
