"""A doctor plan from the agent's own config: its homeport server, hosts and mapped ports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from homeport.doctor.gather import ServerAccess
from homeport.doctor.relay import TunnelTarget, read_reports
from homeport.doctor.run import DEFAULT_WAIT, DoctorPlan, Target
from homeport.errors import UsageError


def server_url(settings: Any) -> str:
    server = str(settings.server).rstrip("/")
    if "://" in server:
        return server
    return f"{'https' if getattr(settings, 'ssl', True) else 'http'}://{server}"


def plan_from_config(
    cfg: Any, *, wait: float = DEFAULT_WAIT, gateway: str | None = None
) -> DoctorPlan:
    """Targets are every host x every mapped (or advertised) port; the server is the
    first provider that is a homeport server (its checkip and probe)."""
    ports = sorted(
        {m.external_port or m.internal_port for m in cfg.mappings}
        | set(getattr(cfg.hooks, "advertise_ports", ()) or ())
    )
    tunnels = tuple(
        TunnelTarget(t.host, t.relay, t.kind, t.port, t.local) for t in getattr(cfg, "tunnels", ())
    )
    if not ports and not tunnels:
        raise UsageError(
            "the config maps and advertises no port: name targets as NAME:PORT, or add "
            "[[mapping]] or [hooks] advertise_ports"
        )
    servers: list[ServerAccess] = []
    hosts: list[str] = []
    for entry in cfg.providers:
        hosts += [h.rstrip(".").lower() for h in entry.hosts]
        if entry.protocol == "homeport" and not servers:
            settings = entry.settings
            servers.append(
                ServerAccess(
                    server_url(settings),
                    str(settings.login),
                    settings.password.get_secret_value(),
                )
            )
    targets = tuple(
        Target(host, port, tls=port == 443) for host in dict.fromkeys(hosts) for port in ports
    )
    reports: tuple[dict[str, Any], ...] = ()
    if tunnels:
        from homeport.agent.files import default_state_dir

        state_dir = Path(cfg.agent.state_dir) if cfg.agent.state_dir else default_state_dir()
        reports = tuple(read_reports(state_dir))
    return DoctorPlan(
        targets=targets,
        servers=tuple(servers),
        gateway=gateway,
        wait=wait,
        tunnels=tunnels,
        tunnel_reports=reports,
    )
