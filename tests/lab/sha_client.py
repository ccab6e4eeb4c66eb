#!/usr/bin/env python3
"""A visitor of sha_server.py. Usage:
sha_client.py HOST PORT NAME get|put SIZE [--until SECONDS] [--timeout SECONDS] [--source ADDR]
              [--pace BYTES_PER_SECOND]

Prints one JSON line: ``ok`` (the service named NAME answered and every byte's hash matched),
``attempts``, ``failed`` (connections that broke off: allowed across a fault, as through any
TCP proxy), ``corrupt`` (the wrong service answered, or the bytes' hash differed: never
allowed), ``errors`` (the distinct failure reasons) and ``seconds`` (the successful transfer).

``--until``: keep trying, a new connection each time, until one succeeds or SECONDS passed:
the "how long until new visitors get through again" loop of the fault tests. ``--pace``:
read a ``get`` no faster than that (a transfer still open when a fault strikes).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import time

CHUNK = 256 * 1024


class Corrupt(Exception):
    pass


def read_exact(
    sock: socket.socket, size: int, digest: hashlib._Hash | None = None, pace: float = 0.0
) -> bytes:
    """Exactly ``size`` bytes (kept only when ``digest`` is None) or ConnectionError."""
    kept = bytearray()
    left = size
    started = time.monotonic()
    while left:
        if pace:
            ahead = (size - left) / pace - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
        piece = sock.recv(min(CHUNK if not pace else 16384, left))
        if not piece:
            raise ConnectionError(f"closed with {left} of {size} bytes to go")
        if digest is None:
            kept += piece
        else:
            digest.update(piece)
        left -= len(piece)
    return bytes(kept)


def read_line(sock: socket.socket) -> bytes:
    line = bytearray()
    while not line.endswith(b"\n"):
        piece = sock.recv(1)
        if not piece:
            raise ConnectionError("closed before a whole line")
        line += piece
        if len(line) > 200:
            raise Corrupt(f"no line: {bytes(line[:40])!r}")
    return bytes(line[:-1])


def attempt(args: argparse.Namespace) -> float:
    """One visitor connection; its transfer time, or ConnectionError/OSError/Corrupt."""
    source = (args.source, 0) if args.source else None
    with socket.create_connection(
        (args.host, args.port), timeout=args.timeout, source_address=source
    ) as sock:
        sock.settimeout(args.timeout)
        started = time.monotonic()
        sock.sendall(f"{args.command} {args.size}\n".encode())
        if args.command == "put":
            digest = hashlib.sha256()
            left = args.size
            while left:
                piece = os.urandom(min(CHUNK, left))
                digest.update(piece)
                sock.sendall(piece)
                left -= len(piece)
        name = read_line(sock)
        if name != args.name.encode():
            raise Corrupt(f"answered by {name[:40]!r}, not {args.name!r}")
        if args.command == "get":
            digest = hashlib.sha256()
            read_exact(sock, args.size, digest, args.pace)
            theirs = read_exact(sock, 64)
        else:
            theirs = read_line(sock)
        if theirs != digest.hexdigest().encode():
            raise Corrupt("hash mismatch")
        return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("name")
    parser.add_argument("command", choices=("get", "put"))
    parser.add_argument("size", type=int)
    parser.add_argument("--until", type=float, default=0.0)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--source", default="")
    parser.add_argument("--pace", type=float, default=0.0)
    args = parser.parse_args()
    deadline = time.monotonic() + args.until
    result: dict[str, object] = {"ok": False, "attempts": 0, "failed": 0, "corrupt": 0}
    errors: set[str] = set()
    while True:
        result["attempts"] = int(str(result["attempts"])) + 1
        try:
            result["seconds"] = round(attempt(args), 4)
            result["ok"] = True
            break
        except Corrupt as exc:
            result["corrupt"] = int(str(result["corrupt"])) + 1
            errors.add(f"corrupt: {exc}")
        except OSError as exc:  # ConnectionError and timeouts are OSErrors
            result["failed"] = int(str(result["failed"])) + 1
            errors.add(f"{type(exc).__name__}: {exc}"[:120])
        if time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    result["errors"] = sorted(errors)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
