from __future__ import annotations

import socket
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

from homeport.proto import procnet

TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0378 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0
   2: 0100007F:0378 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0
"""
TCP6 = """\
  sl  local_address                         remote_address                        st
   0: 00000000000000000000000000000000:0378 00000000000000000000000000000000:0000 0A
   1: B80D0120000000000000000010000000:0378 00000000000000000000000000000000:0000 0A
"""


def test_vectors() -> None:
    assert procnet.listening(TCP, 888) == [IPv4Address("127.0.0.1")]
    assert procnet.listening(TCP, 22) == [IPv4Address("0.0.0.0")]
    assert procnet.listening(TCP, 80) == []
    assert procnet.listening(TCP6, 888) == [IPv6Address("::"), IPv6Address("2001:db8::10")]


def test_against_the_kernel() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        text = Path("/proc/net/tcp").read_text()
        assert IPv4Address("127.0.0.1") in procnet.listening(text, port)
    assert IPv4Address("127.0.0.1") not in procnet.listening(
        Path("/proc/net/tcp").read_text(), port
    )
