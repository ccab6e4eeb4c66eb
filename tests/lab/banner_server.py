#!/usr/bin/env python3
"""Answer every TCP connection with a fixed banner. Usage: banner_server.py PORT ADDR [ADDR...]

Our own on purpose: ``python3 -m http.server`` looks up its own name on bind and stalls 10 s on
reverse DNS inside a namespace (and aims DNS packets at the host's resolver).
"""

from __future__ import annotations

import socket
import sys
import threading

BANNER = b"hello from home\n"


def serve(sock: socket.socket) -> None:
    while True:
        conn, _ = sock.accept()
        with conn:
            conn.sendall(BANNER)


def main() -> None:
    port = int(sys.argv[1])
    socks = []
    for addr in sys.argv[2:]:
        family = socket.AF_INET6 if ":" in addr else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((addr, port))
        sock.listen(16)
        socks.append(sock)
    for sock in socks[1:]:
        threading.Thread(target=serve, args=(sock,), daemon=True).start()
    print("ready", flush=True)
    serve(socks[0])


if __name__ == "__main__":
    main()
