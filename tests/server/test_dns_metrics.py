from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from homeport.io.dns_server import DnsStats
from homeport.server.dns_metrics import DnsStatsCollector


def test_counters_are_read_at_scrape_time() -> None:
    stats = DnsStats()
    registry = CollectorRegistry()
    registry.register(DnsStatsCollector(stats))
    stats.udp[0] += 5  # NOERROR
    stats.tcp[3] += 2  # NXDOMAIN
    stats.udp[16] += 1  # dropped
    stats.rate_limited += 4
    text = generate_latest(registry).decode()
    assert 'homeport_dns_queries_total{rcode="NOERROR"} 5.0' in text
    assert 'homeport_dns_queries_total{rcode="NXDOMAIN"} 2.0' in text
    assert "homeport_dns_dropped_total 1.0" in text
    assert "homeport_dns_rate_limited_total 4.0" in text
    stats.udp[0] += 1
    assert 'homeport_dns_queries_total{rcode="NOERROR"} 6.0' in generate_latest(registry).decode()
