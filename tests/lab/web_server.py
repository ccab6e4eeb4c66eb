#!/usr/bin/env python3
"""Serve a directory over HTTP (the Raspberry Pi's web site).
Usage: web_server.py PORT ADDR DIR [CERT KEY]   (with CERT and KEY: HTTPS, TLS ends here)

``python3 -m http.server`` would do, but it looks up its own name (getfqdn) between bind and
listen: inside a namespace that stalls on reverse DNS and aims packets at the host's resolver.
"""

from __future__ import annotations

import functools
import http.server
import socket
import socketserver
import ssl
import sys


class Server(http.server.ThreadingHTTPServer):
    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # no getfqdn()
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]


def main() -> None:
    port, address, directory = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    Server.address_family = socket.AF_INET6 if ":" in address else socket.AF_INET
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=directory)
    with Server((address, port), handler) as server:
        if len(sys.argv) > 5:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(sys.argv[4], sys.argv[5])
            # The handshake in the handler's thread: a silent client never blocks accept().
            server.socket = context.wrap_socket(
                server.socket, server_side=True, do_handshake_on_connect=False
            )
        print("ready", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
