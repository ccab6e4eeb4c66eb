"""The lab router's and ISP's configuration texts (nftables rulesets, miniupnpd.conf)."""

from __future__ import annotations

import uuid


def isp_ruleset(out_if: str, public_ip: str, router_wan_ip: str, *, dmz: bool) -> str:
    """Carrier NAT: masquerade towards inet; with ``dmz`` also forward everything for the
    public address to the router (a modem's "DMZ host", the double NAT that still works)."""
    forward = f'iifname "{out_if}" ip daddr {public_ip} dnat to {router_wan_ip}' if dmz else ""
    return (
        "table ip nat {\n"
        f"  chain prerouting {{ type nat hook prerouting priority -100; {forward}; }}\n"
        "  chain postrouting { type nat hook postrouting priority 100;"
        f' oifname "{out_if}" masquerade; }}\n'
        "}\n"
    )


def router_ruleset(lan_if: str, wan_if: str) -> str:
    """miniupnpd 2.3's nftables names: table inet filter; chains miniupnpd,
    prerouting_miniupnpd, postrouting_miniupnpd (IPv6 pinholes go in chain miniupnpd too)."""
    return (
        "table inet filter {\n"
        "  chain forward { type filter hook forward priority 0; policy drop;\n"
        "    ct state established,related accept\n"
        f'    iifname "{lan_if}" oifname "{wan_if}" accept\n'
        "    jump miniupnpd; }\n"
        "  chain miniupnpd { }\n"
        "  chain prerouting { type nat hook prerouting priority -100; policy accept;\n"
        "    jump prerouting_miniupnpd; }\n"
        "  chain postrouting { type nat hook postrouting priority 100; policy accept;\n"
        f'    jump postrouting_miniupnpd\n    oifname "{wan_if}" meta nfproto ipv4'
        " masquerade; }\n"
        "  chain prerouting_miniupnpd { }\n"
        "  chain postrouting_miniupnpd { }\n"
        "}\n"
    )


def miniupnpd_conf(
    *,
    wan_if: str,
    lan_if: str,
    stun_host: str,
    http_port: int,
    ipv6: bool,
    min_lifetime: int,
    lease_file: str,
    lan_net: str,
) -> str:
    return (
        f"ext_ifname={wan_if}\n"
        # Reserved WAN addresses (RFC 1918, 100.64/10, TEST-NETs) make miniupnpd refuse all
        # forwarding unless STUN (with CHANGE-REQUEST) shows the path is open.
        "ext_perform_stun=yes\n"
        f"ext_stun_host={stun_host}\n"
        "ext_stun_port=3478\n"
        f"listening_ip={lan_if}\n"
        f"http_port={http_port}\n"
        "enable_upnp=yes\nenable_natpmp=yes\n"
        f"ipv6_disable={'no' if ipv6 else 'yes'}\n"
        "secure_mode=yes\n"
        # Epoch = daemon start, so a restart is seen as a reboot (RFC 6886 §3.6).
        "system_uptime=no\n"
        "notify_interval=60\nclean_ruleset_interval=600\n"
        # PCP lifetimes are clamped to [min_lifetime, max_lifetime]; low for lease tests.
        f"min_lifetime={min_lifetime}\nmax_lifetime=86400\n"
        # A fresh file per lab: a leftover one re-creates old mappings at start.
        f"lease_file={lease_file}\n"
        f"uuid={uuid.uuid4()}\n"
        "friendly_name=homeport lab router\n"
        f"allow 80-65535 {lan_net} 80-65535\n"
        "deny 0-65535 0.0.0.0/0 0-65535\n"
    )
