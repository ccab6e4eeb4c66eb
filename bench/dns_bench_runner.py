#!/usr/bin/env python3
"""Serve one zone file with homeport's DNS, for ``bench/dns_qps.py``.

``bench/dns_bench_runner.py --zone FILE --origin ZONE --listen 127.0.0.1:PORT`` (with this
checkout's src/ on PYTHONPATH, as bench/dns_qps.py runs it)
loads the file through :mod:`homeport.server.zonefile` into a :class:`Catalog`
and serves it with :func:`start_dns` (RRL off unless ``--rrl-rate``, uvloop when
installed): the same hot path as ``homeport server run``. ``--naive`` instead answers every query by
parsing it with dnspython and building the response (the baseline we improve on).
Prints ``ready`` on stdout once it answers; stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
import threading

import dns.message
import dns.rcode
import dns.rdatatype
import dns.zone

from homeport.core.rrl import RrlConfig
from homeport.core.zone import Catalog
from homeport.io.dns_server import start_dns
from homeport.server.zonefile import read_zone_file


async def _serve(args: argparse.Namespace) -> None:
    soa, records = read_zone_file(args.zone, args.origin)
    catalog = Catalog()
    catalog.load_zone(args.origin, soa, records)
    del records
    host, _, port = args.listen.rpartition(":")
    rrl = None
    if args.rrl_rate:
        rrl = RrlConfig(responses_per_second=args.rrl_rate, burst=args.rrl_rate)
    server = await start_dns(
        catalog,
        host,
        int(port),
        rrl=rrl is not None,
        rrl_config=rrl,
        cache=not args.no_packet_cache,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    await stop.wait()
    await server.close()


def _naive(args: argparse.Namespace) -> None:
    """Per query: dns.message.from_wire, look the name up in a dns.zone, to_wire."""
    zone = dns.zone.from_file(args.zone, origin=args.origin, relativize=False)
    host, _, port = args.listen.rpartition(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, int(port)))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("ready", flush=True)
    sock.settimeout(0.5)
    while not stop.is_set():
        try:
            data, addr = sock.recvfrom(4096)
        except TimeoutError:
            continue
        with contextlib.suppress(Exception):
            query = dns.message.from_wire(data)
            resp = dns.message.make_response(query)
            question = query.question[0]
            node = zone.get_node(question.name)
            if node is None:
                resp.set_rcode(dns.rcode.NXDOMAIN)
                assert zone.origin is not None
                resp.authority.append(zone.find_rrset(zone.origin, dns.rdatatype.SOA))
            else:
                rdataset = node.get_rdataset(question.rdclass, question.rdtype)
                if rdataset is not None:
                    resp.answer.append(zone.find_rrset(question.name, question.rdtype))
            sock.sendto(resp.to_wire(), addr)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--zone", required=True, help="RFC 1035 master file")
    parser.add_argument("--origin", required=True, help="the zone's origin, e.g. example.net.")
    parser.add_argument("--listen", required=True, help="HOST:PORT (UDP and TCP)")
    parser.add_argument("--naive", action="store_true", help="dnspython per query (baseline)")
    parser.add_argument("--no-packet-cache", action="store_true", help="UDP packet cache off")
    parser.add_argument(
        "--rrl-rate", type=float, default=0, help="RRL on at this rate (0 = RRL off)"
    )
    parser.add_argument("--no-uvloop", action="store_true", help="plain asyncio event loop")
    args = parser.parse_args(argv)
    if args.naive:
        _naive(args)
        return
    run = asyncio.run
    if not args.no_uvloop:
        try:
            import uvloop

            run = uvloop.run
        except ImportError:
            pass
    run(_serve(args))


if __name__ == "__main__":
    main()
