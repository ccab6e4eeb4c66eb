"""Prometheus collectors that read plain counters at scrape time.

The DNS hot path only bumps ints in :class:`~homeport.io.dns_server.DnsStats`;
turning them into metric families happens here, once per scrape.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from homeport.io.dns_server import DnsStats


class DnsCollector(Collector):
    def __init__(self, stats: Sequence[DnsStats]) -> None:
        self.stats = stats

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "homeport_dns_queries", "DNS queries answered, by response code", labels=["rcode"]
        )
        totals: dict[str, int] = {}
        for stats in self.stats:
            for rcode, count in stats.by_rcode().items():
                totals[rcode] = totals.get(rcode, 0) + count
        for rcode, count in sorted(totals.items()):
            family.add_metric([rcode], count)
        yield family
