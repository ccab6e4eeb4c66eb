#!/usr/bin/env python3
"""A raw TCP service that proves bytes arrive whole and at the right place.
Usage: sha_server.py PORT ADDR NAME

Each connection sends one command line and gets ``NAME\\n`` first (so a client routed to the
wrong service, or handed another visitor's bytes, notices), then:

- ``get N``: N random bytes, then the 64 hex digits of their SHA-256 (the client hashes what
  it received and compares: corruption anywhere on the way shows);
- ``put N``: the service reads N bytes and answers the hex SHA-256 of what it read;
- ``who``: the peer address the service sees, as ``address:port``.

Nothing here relies on a half-close: through a relay (TLS has none in asyncio) a visitor's
shutdown(SHUT_WR) ends the whole pipe, so every command says how many bytes it moves.
"""

from __future__ import annotations

import hashlib
import os
import socket
import socketserver
import sys

CHUNK = 256 * 1024


class Handler(socketserver.StreamRequestHandler):
    name = b"sha"

    def handle(self) -> None:
        line = self.rfile.readline(100).decode(errors="replace").split()
        self.wfile.write(self.name + b"\n")
        if len(line) == 2 and line[0] == "get" and line[1].isdigit():
            self._get(int(line[1]))
        elif len(line) == 2 and line[0] == "put" and line[1].isdigit():
            self._put(int(line[1]))
        elif line == ["who"]:
            host, port = self.client_address[:2]
            self.wfile.write(f"{host}:{port}\n".encode())
        else:
            self.wfile.write(b"error\n")
        self.wfile.flush()

    def _get(self, size: int) -> None:
        digest = hashlib.sha256()
        block = os.urandom(CHUNK)
        sent = 0
        while sent < size:
            # A fresh block every time: a duplicated or dropped chunk changes the hash.
            block = hashlib.sha256(block[:32]).digest() + block[32:] if sent else block
            piece = block[: size - sent]
            digest.update(piece)
            self.wfile.write(piece)
            sent += len(piece)
        self.wfile.write(digest.hexdigest().encode())

    def _put(self, size: int) -> None:
        digest = hashlib.sha256()
        left = size
        while left:
            piece = self.rfile.read(min(CHUNK, left))
            if not piece:
                return  # the visitor went away: no answer
            digest.update(piece)
            left -= len(piece)
        self.wfile.write(digest.hexdigest().encode() + b"\n")


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 128


def main() -> None:
    port, address, name = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    Handler.name = name.encode()
    Server.address_family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with Server((address, port), Handler) as server:
        print("ready", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
