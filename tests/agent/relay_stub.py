"""A tiny relay speaking proto.relay, for the tunnel client's tests (loopback only).

Not the product's relay (server/relay/): just enough of the protocol to drive the client —
hello/welcome/error, ping/pong, spares, want, open — with one public TCP port whose visitors
all go to the one host's session. It runs its own event loop in a thread, so a test can
stop it (as if killed) and start it again on the same ports, and it counts hellos.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import hashlib
import secrets
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from homeport.proto import relay

CHUNK = 256 * 1024
CLOSE_WAIT = 10.0


def self_signed(directory: Path, name: str = "relay.test") -> tuple[Path, Path, str]:
    """(cert file, key file, "sha256:<hex of DER>")."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "relay.crt", directory / "relay.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    return cert_file, key_file, "sha256:" + hashlib.sha256(der).hexdigest()


@dataclass
class StubRelay:
    directory: Path
    host: str
    secret: str
    heartbeat: float = 30.0
    control_port: int = 0
    public_port: int = 0
    hellos: int = 0
    pongs: int = 0
    sessions: int = 0
    muted: bool = False  # pings go unanswered, as over a path that died silently
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _servers: list[asyncio.Server] = field(default_factory=list)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)
    _idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = field(default_factory=list)
    _control: asyncio.StreamWriter | None = None
    _session: str = ""
    _spare_arrived: asyncio.Event | None = None

    def __post_init__(self) -> None:
        self.cert, self.key, self.fingerprint = self_signed(self.directory)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.control_port}"

    # --- run / stop from the test's thread --------------------------------------------

    def start(self) -> StubRelay:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        def main() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._listen())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=main, daemon=True)
        self._thread.start()
        assert ready.wait(10)
        return self

    def stop(self) -> None:
        """Close every listener and connection at once, as a killed relay would."""
        loop = self._loop
        if loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        assert self._thread is not None
        self._thread.join(10)
        loop.close()
        self._loop = None

    def live_session(self) -> bool:
        return self._control is not None

    # --- inside the loop --------------------------------------------------------------

    async def _listen(self) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        context.load_cert_chain(self.cert, self.key)
        self._spare_arrived = asyncio.Event()
        control = await asyncio.start_server(
            self._agent, "127.0.0.1", self.control_port, ssl=context
        )
        public = await asyncio.start_server(self._visitor, "127.0.0.1", self.public_port)
        self.control_port = control.sockets[0].getsockname()[1]
        self.public_port = public.sockets[0].getsockname()[1]
        self._servers = [control, public]

    async def _close(self) -> None:
        for server in self._servers:
            server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        self._idle.clear()
        self._control = None
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _agent(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            line = await reader.readline()
            if not line:
                writer.close()
                return
            message = relay.decode(line)
            if isinstance(message, relay.Spare):
                if message.session == self._session:
                    self._idle.append((reader, writer))
                    assert self._spare_arrived is not None
                    self._spare_arrived.set()
                else:
                    writer.close()
                return
            assert isinstance(message, relay.Hello)
            self.hellos += 1
            if message.host != self.host or not secrets.compare_digest(message.secret, self.secret):
                writer.write(relay.encode(relay.Error("badauth", "wrong host or secret")))
                await writer.drain()
                writer.close()
                return
            if self._control is not None:  # a new hello replaces the old session
                self._control.transport.abort()
            self._session = secrets.token_hex(8)
            self._idle.clear()
            self._control = writer
            self.sessions += 1
            granted = tuple(
                relay.Granted(t.kind, t.port, self.public_port) for t in message.tunnels
            )
            writer.write(relay.encode(relay.Welcome(self._session, granted, self.heartbeat)))
            self._spec = message.tunnels[0]
            while line := await reader.readline():
                if isinstance(relay.decode(line), relay.Ping) and not self.muted:
                    self.pongs += 1
                    writer.write(relay.encode(relay.Pong()))
            if self._control is writer:
                self._control = None
            writer.close()
        except (OSError, ssl.SSLError):
            writer.transport.abort()

    async def _visitor(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        assert self._spare_arrived is not None
        while not self._idle and self._control is not None:
            self._spare_arrived.clear()
            self._control.write(relay.encode(relay.Want(1)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._spare_arrived.wait(), 5)
        if not self._idle:
            writer.close()
            return
        spare = self._idle.pop(0)
        peer = writer.get_extra_info("peername")
        spare[1].write(
            relay.encode(relay.Open(self._spec.kind, self._spec.port, f"{peer[0]}:{peer[1]}"))
        )
        await splice(spare, (reader, writer))


# -- the stub's own splice (streams: simple, not the product's data path) ----------------


async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> bool:
    """Copy until EOF; True on a clean end, False when either side broke."""
    try:
        while data := await source.read(CHUNK):
            sink.write(data)
            await sink.drain()
    except (OSError, ssl.SSLError, EOFError, RuntimeError):
        # Reset, broken pipe, a TLS alert, "transport is closing": the pair is over.
        return False
    return True


async def splice(
    outer: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    inner: tuple[asyncio.StreamReader, asyncio.StreamWriter],
) -> None:
    """Copy ``outer`` (the relay's TLS data connection) to ``inner`` (the home service)
    and back. When the outer side's sender finishes cleanly the inner side gets an EOF
    (``write_eof``) and may still answer; anything else closes both."""
    outer_reader, outer_writer = outer
    inner_reader, inner_writer = inner
    inbound = asyncio.create_task(pump(outer_reader, inner_writer))
    outbound = asyncio.create_task(pump(inner_reader, outer_writer))
    try:
        done, _ = await asyncio.wait((inbound, outbound), return_when=asyncio.FIRST_COMPLETED)
        finished = inbound in done and inbound.result() and not outbound.done()
        if finished and inner_writer.can_write_eof():
            with contextlib.suppress(OSError, RuntimeError):
                inner_writer.write_eof()
            await outbound
    except asyncio.CancelledError:  # shutting down: drop both at once
        for writer in (inner_writer, outer_writer):
            writer.transport.abort()
        raise
    finally:
        for task in (inbound, outbound):
            task.cancel()
        for writer in (inner_writer, outer_writer):
            writer.close()
        for writer in (inner_writer, outer_writer):
            with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), CLOSE_WAIT)
