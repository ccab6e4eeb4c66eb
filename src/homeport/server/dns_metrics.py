"""Prometheus export of the DNS listener's counters, read at scrape time.

The hot path only bumps plain ints in :class:`~homeport.io.dns_server.DnsStats`;
this collector turns them into ``homeport_dns_queries_total{rcode=...}`` (and
dropped / rate-limited counters) when ``/metrics`` is scraped.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from homeport.io.dns_server import DnsStats


class DnsStatsCollector(Collector):
    """A custom collector: ``registry.register(DnsStatsCollector(server.stats, ...))``.

    One collector sums every listener's counters: a registry refuses two
    collectors that export the same metric names.
    """

    def __init__(self, *stats: DnsStats) -> None:
        self._all = stats

    def collect(self) -> Iterator[CounterMetricFamily]:
        queries = CounterMetricFamily(
            "homeport_dns_queries",
            "DNS queries answered, by response code",
            labels=["rcode"],
        )
        totals: dict[str, int] = {}
        for stats in self._all:
            for rcode, count in stats.by_rcode().items():
                totals[rcode] = totals.get(rcode, 0) + count
        for rcode, count in sorted(totals.items()):
            queries.add_metric([rcode], count)
        yield queries
        yield CounterMetricFamily(
            "homeport_dns_dropped",
            "DNS queries not answered (malformed, a response, rate-limited)",
            value=sum(s.dropped for s in self._all),
        )
        yield CounterMetricFamily(
            "homeport_dns_rate_limited",
            "DNS UDP answers dropped or truncated by response-rate limiting",
            value=sum(s.rate_limited for s in self._all),
        )
