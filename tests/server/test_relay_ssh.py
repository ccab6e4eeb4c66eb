"""Stock OpenSSH ``ssh -R`` into a real ``homeport server`` relay, visitors with curl.

Everything runs as processes on loopback: the server (``[relay] ssh_listen``), OpenSSH's
client as the home side's only software, a small HTTP service as the home service, and
curl as the visitor.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import http.server
import os
import random
import re
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from homeport.server import admin
from homeport.server.relay import ssh_keys
from homeport.server.store import Store
from tests.server.conftest import ServerProc, start_server, stop_server

pytestmark = [
    pytest.mark.peer,
    pytest.mark.skipif(shutil.which("ssh") is None, reason="OpenSSH's client is not installed"),
]

ZONE = "dyn.example.net"
HOST = "pi.dyn.example.net"
OTHER = "nas.dyn.example.net"
RELAY_IPV4 = "192.0.2.1"  # documentation address: DNS data only, never connected to
# Above the kernel's ephemeral ports (ip_local_port_range 32768-60999): no client socket
# of another process holds one, and free_ports() never hands one out for a listener.
TCP_RANGE = (62400, 62449)
PAGE = b"hello from home\n"
OTHER_PAGE = b"hello from the new home\n"
# How long to wait for ssh to report its forwards ready (or fail): not a timed assertion.
SSH_READY = 30
# ssh -v's line for each answered -R (OpenSSH's ssh_confirm_remote_forward).
ANSWERED = re.compile(r"remote forward (success|failure) for")


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


# 20 MB each way: many times the ssh channel's 2 MB window and the relay's buffers, so
# flow control (pause/resume both ways) is exercised, not just one buffer's worth.
BIG = random.Random(13).randbytes(20 * 1024 * 1024)


class _Page(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        digest = hashlib.sha256()
        while length:
            chunk = self.rfile.read(min(length, 1 << 20))
            digest.update(chunk)
            length -= len(chunk)
        body = digest.hexdigest().encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/big":
            self.send_response(200)
            self.send_header("Content-Length", str(len(BIG)))
            self.end_headers()
            self.wfile.write(BIG)
            return
        body = PAGE + f"path={self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _OtherPage(_Page):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(OTHER_PAGE)))
        self.end_headers()
        self.wfile.write(OTHER_PAGE)


@contextlib.contextmanager
def serving(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[int]:
    """An HTTP service on a loopback port of its own, for the block."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def home() -> Iterator[int]:
    """The home service."""
    with serving(_Page) as port:
        yield port


@dataclass
class Relay:
    server: ServerProc
    http_port: int
    tls_port: int
    ssh_port: int
    secrets: dict[str, str]
    keys: dict[str, Path] = field(default_factory=dict)
    tmp: Path = Path()


def relay_config(path: Path, http_port: int, tls_port: int, ssh_port: int, *extra: str) -> None:
    lines = [
        "[relay]",
        "enabled = true",
        'listen = "127.0.0.1:0"',
        f'public_ipv4 = "{RELAY_IPV4}"',
        f"http_ports = [{http_port}]",
        f"tls_ports = [{tls_port}]",
        f'tcp_ports = "{TCP_RANGE[0]}-{TCP_RANGE[1]}"',
        'bind = "127.0.0.1"',
        f'ssh_listen = "127.0.0.1:{ssh_port}"',
        *extra,
    ]
    path.write_text("\n".join(lines) + "\n")


def make_key(path: Path) -> Path:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return path


def public_key(key: Path) -> Path:
    return key.parent / (key.name + ".pub")


def prepare(data: Path, keys: dict[str, Path]) -> dict[str, str]:
    """The zone, the hosts and their registered keys, in-process (a CLI call per item
    costs seconds on a busy machine; the commands have a test of their own below)."""

    async def work() -> dict[str, str]:
        store = await Store.open(data, announce=True)
        try:
            await admin.add_zone(store, ZONE + ".", [], 60)
            made = {name: await admin.add_host(store, name + ".", None) for name in (HOST, OTHER)}
            for name, key in keys.items():
                await ssh_keys.add_key(store, name + ".", public_key(key).read_text())
            return made
        finally:
            await store.close()

    return asyncio.run(work())


def start_relay(tmp: Path, *extra: str, keys: dict[str, Path] | None = None) -> Relay:
    data = tmp / "data"
    secrets = prepare(data, keys or {})
    http_port, tls_port, ssh_port = free_ports(3)
    config = tmp / "server.toml"
    relay_config(config, http_port, tls_port, ssh_port, *extra)
    server = start_server(data, "--config", str(config))
    return Relay(server, http_port, tls_port, ssh_port, secrets, dict(keys or {}), tmp=tmp)


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Relay]:
    """One relay for the module (limits off: these tests log in many times)."""
    tmp = tmp_path_factory.mktemp("relay")
    keys = {name: make_key(tmp / f"key-{name}") for name in (HOST, OTHER)}
    stranger = make_key(tmp / "key-stranger")  # made first: nothing may fail once it runs
    relay = start_relay(tmp, "[limits]", "enabled = false", keys=keys)
    relay.keys["stranger"] = stranger
    try:
        yield relay
    finally:
        stop_server(relay.server)


class Ssh:
    """A running OpenSSH client; its stderr collected line by line."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self.changed = threading.Condition()
        self.ended = False
        self.reader = threading.Thread(target=self._pump, daemon=True)
        self.reader.start()

    def _pump(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self.changed:
                self.lines.append(line)
                self.changed.notify_all()
        with self.changed:
            self.ended = True
            self.changed.notify_all()

    def output(self) -> str:
        with self.changed:
            return "".join(self.lines)

    def wait_until(self, done: Callable[[str], bool]) -> bool:
        """Until ``done(stderr so far)`` (True) or ssh ends without it (False)."""
        with self.changed:
            self.changed.wait_for(lambda: self.ended or done("".join(self.lines)), SSH_READY)
            return done("".join(self.lines))

    def wait_for(self, text: str) -> bool:
        return self.wait_until(lambda out: text in out)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        code = self.proc.wait(10)
        self.reader.join(10)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        return code


def ssh_args(relay: Relay, user: str, *, key: Path | None = None) -> list[str]:
    args = [
        "ssh",
        "-F",
        "/dev/null",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "ConnectTimeout=10",
        "-p",
        str(relay.ssh_port),
    ]
    if key is not None:
        args += ["-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-i", str(key)]
    else:
        args += ["-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password"]
    return [*args, f"{user}@127.0.0.1"]


def askpass_env(tmp: Path, secret: str) -> dict[str, str]:
    """OpenSSH reads the password from this script (no terminal needed)."""
    script = tmp / f"askpass-{abs(hash(secret))}.sh"
    script.write_text(f"#!/bin/sh\necho '{secret}'\n")
    script.chmod(0o700)
    return {**os.environ, "SSH_ASKPASS": str(script), "SSH_ASKPASS_REQUIRE": "force"}


@contextlib.contextmanager
def tunnel(
    relay: Relay,
    user: str,
    *forwards: str,
    key: Path | None = None,
    secret: str | None = None,
    extra: Sequence[str] = (),
) -> Iterator[Ssh]:
    """``ssh -v -N -R ...`` for the block; waits until every forward is answered (or
    ssh ended: a refused login)."""
    forward_args = [arg for spec in forwards for arg in ("-R", spec)]
    env = askpass_env(relay.tmp, secret) if secret is not None else None
    base = ssh_args(relay, user, key=key)
    ssh = Ssh([base[0], "-v", "-N", *extra, *forward_args, *base[1:]], env)
    try:
        # For -R 0 OpenSSH prints the port it got right after its debug line.
        allocations = sum(spec.startswith("0:") for spec in forwards)
        ssh.wait_until(
            lambda out: (
                len(ANSWERED.findall(out)) >= len(forwards)
                and out.count("Allocated port") >= allocations
            )
        )
        yield ssh
    finally:
        ssh.stop()


def refused_login(ssh: Ssh) -> int:
    """ssh's exit status once it has given up logging in."""
    ssh.proc.wait(SSH_READY)
    ssh.reader.join(10)
    return ssh.proc.returncode


def eventually(check: Callable[[], bool]) -> None:
    """Until ``check()`` holds; fails if it never does within SSH_READY seconds."""
    deadline = time.monotonic() + SSH_READY
    while not check():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def server_line(server: ServerProc, pattern: str) -> re.Match[str]:
    """The server's first output line matching ``pattern``, waiting for it to be read."""
    deadline = time.monotonic() + SSH_READY
    while True:
        for line in list(server.output):
            found = re.search(pattern, line)
            if found is not None:
                return found
        assert time.monotonic() < deadline, "".join(server.output)
        time.sleep(0.05)


def curl(port: int, host: str | None = None) -> subprocess.CompletedProcess[str]:
    args = ["curl", "-sS", "-m", "10", f"http://127.0.0.1:{port}/x"]
    if host is not None:
        args += ["-H", f"Host: {host}"]
    return subprocess.run(args, capture_output=True, text=True, timeout=30)


def refused_forward(ssh: Ssh) -> bool:
    return "remote forward failure for" in ssh.output()


# -- tunnels ------------------------------------------------------------------------


def test_ssh_r_with_a_registered_key_serves_the_host_by_name_until_it_ends(
    relay: Relay, home: int
) -> None:
    key = relay.keys[HOST]
    with tunnel(relay, HOST, f"{relay.http_port}:127.0.0.1:{home}", key=key) as ssh:
        assert not refused_forward(ssh), ssh.output()
        visit = curl(relay.http_port, HOST)
        assert visit.returncode == 0, visit.stderr
        assert visit.stdout == PAGE.decode() + "path=/x\n"
        # DNS answers the relay's address while the session is up.
        assert relay.server.dig(HOST) == [RELAY_IPV4]
        # Another host's name is not served by this tunnel.
        assert _status(relay.http_port, OTHER) == "502"
        # It counts as a relay session in /metrics, its visitors too.
        metrics = urllib.request.urlopen(relay.server.url + "/metrics", timeout=10).read()
        text = metrics.decode()
        assert "homeport_relay_sessions 1.0" in text
        assert f'homeport_relay_connections_total{{host="{HOST}.",kind="http"}}' in text
    # The session ended: its route went with it, and DNS follows (the switch is stored
    # after the route is dropped, so it may trail by a moment).
    assert _status(relay.http_port, HOST) == "502"
    eventually(lambda: relay.server.dig(HOST) == [])


def _status(port: int, host: str) -> str:
    result = subprocess.run(
        [
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-m",
            "10",
            "-H",
            f"Host: {host}",
            f"http://127.0.0.1:{port}/",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return result.stdout


def test_20_mb_each_way_arrive_intact_through_an_ssh_tunnel(
    relay: Relay, home: int, tmp_path: Path
) -> None:
    upload = tmp_path / "upload"
    upload.write_bytes(BIG[::-1])
    with tunnel(relay, HOST, f"{relay.http_port}:127.0.0.1:{home}", key=relay.keys[HOST]) as ssh:
        assert not refused_forward(ssh), ssh.output()
        base = ["curl", "-sS", "-m", "120", "-H", f"Host: {HOST}"]
        down = subprocess.run(
            [*base, f"http://127.0.0.1:{relay.http_port}/big"], capture_output=True, timeout=180
        )
        assert down.returncode == 0, down.stderr
        assert hashlib.sha256(down.stdout).digest() == hashlib.sha256(BIG).digest()
        up = subprocess.run(
            [*base, "--data-binary", f"@{upload}", f"http://127.0.0.1:{relay.http_port}/sum"],
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert up.returncode == 0, up.stderr
        assert up.stdout == hashlib.sha256(BIG[::-1]).hexdigest()


def test_tls_by_sni_passes_through_to_the_home_certificate(relay: Relay, tmp_path: Path) -> None:
    """-R on a tls_ports port: routed by SNI, TLS ends at home with its own certificate."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
            "-subj",
            f"/CN={HOST}",
            "-addext",
            f"subjectAltName=DNS:{HOST}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        local = server.server_address[1]
        port = relay.tls_port
        with tunnel(relay, HOST, f"{port}:127.0.0.1:{local}", key=relay.keys[HOST]) as ssh:
            assert not refused_forward(ssh), ssh.output()
            visit = subprocess.run(
                [
                    "curl",
                    "-sS",
                    "-m",
                    "10",
                    "--cacert",
                    str(cert),
                    "--resolve",
                    f"{HOST}:{port}:127.0.0.1",
                    f"https://{HOST}:{port}/tls",
                ],
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert visit.returncode == 0, visit.stderr
            assert visit.stdout == PAGE.decode() + "path=/tls\n"
    finally:
        server.shutdown()
        server.server_close()


def test_password_auth_with_the_host_secret_through_askpass(relay: Relay, home: int) -> None:
    secret = relay.secrets[OTHER]
    with tunnel(relay, OTHER, f"{relay.http_port}:127.0.0.1:{home}", secret=secret) as ssh:
        assert not refused_forward(ssh), ssh.output()
        visit = curl(relay.http_port, OTHER)
        assert visit.returncode == 0, visit.stderr
        assert visit.stdout.startswith(PAGE.decode())
    assert 'using "password"' in ssh.output()
    assert secret not in "".join(relay.server.output)


def test_raw_tcp_forwards_get_the_hosts_stored_public_ports(relay: Relay, home: int) -> None:
    low, high = TCP_RANGE
    wanted = low + 40
    forwards = (f"0:127.0.0.1:{home}", f"{wanted}:127.0.0.1:{home}")
    with tunnel(relay, HOST, *forwards, key=relay.keys[HOST]) as ssh:
        assert not refused_forward(ssh), ssh.output()
        found = re.search(r"Allocated port (\d+) for remote forward", ssh.output())
        assert found is not None, ssh.output()
        allocated = int(found.group(1))
        assert low <= allocated <= high
        for port in (allocated, wanted):
            visit = curl(port)
            assert visit.returncode == 0, visit.stderr
            assert visit.stdout.startswith(PAGE.decode())
    # The session ended: the public ports no longer listen.
    assert curl(allocated).returncode != 0
    # Stored: the same tunnel gets the same public port again.
    with tunnel(relay, HOST, f"0:127.0.0.1:{home}", key=relay.keys[HOST]) as again:
        assert f"Allocated port {allocated} for remote forward" in again.output()
        assert curl(allocated).stdout.startswith(PAGE.decode())


def test_a_port_the_relay_has_no_listener_for_is_a_raw_tcp_tunnel(relay: Relay, home: int) -> None:
    """``-R 5555:...`` (not an http/tls listener, outside the range): a port of its own."""
    port = 5555
    with tunnel(relay, HOST, f"{port}:127.0.0.1:{home}", key=relay.keys[HOST]) as ssh:
        assert not refused_forward(ssh), ssh.output()
        # The operator sees it in `homeport server status` (and the server's log).
        rows = relay.server.admin_json("status")
        assert isinstance(rows, list)
        (session,) = [r for r in rows if r.get("relay") == HOST + "."]
        assert session["transport"] == "ssh"
        found = re.fullmatch(rf"tcp:{port}->(\d+)", session["tunnels"])
        assert found is not None, session
        public = int(found.group(1))
        assert TCP_RANGE[0] <= public <= TCP_RANGE[1]
        assert server_line(relay.server, rf"{HOST}\. tcp {port} -> public port {public}\b")
        assert curl(public).stdout.startswith(PAGE.decode())


def test_forwards_added_and_cancelled_on_a_live_connection(
    relay: Relay, home: int, tmp_path: Path
) -> None:
    """``ssh -O forward`` / ``-O cancel`` through a control socket: the session's tunnels
    follow (one more, one fewer), and cancelling the last ends the relay session."""
    control = tmp_path / "cm"
    master = ["-o", "ControlMaster=yes", "-o", f"ControlPath={control}"]
    http = f"{relay.http_port}:127.0.0.1:{home}"
    with tunnel(relay, HOST, http, key=relay.keys[HOST], extra=master) as ssh:
        assert not refused_forward(ssh), ssh.output()
        base = ssh_args(relay, HOST, key=relay.keys[HOST])

        def control_command(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [base[0], "-o", f"ControlPath={control}", *args, *base[1:]],
                capture_output=True,
                text=True,
                timeout=30,
                stdin=subprocess.DEVNULL,
            )

        wanted = TCP_RANGE[0] + 41
        added = control_command("-O", "forward", "-R", f"{wanted}:127.0.0.1:{home}")
        assert added.returncode == 0, added.stderr
        assert curl(wanted).stdout.startswith(PAGE.decode())
        assert _status(relay.http_port, HOST) == "200"
        cancelled = control_command("-O", "cancel", "-R", http)
        assert cancelled.returncode == 0, cancelled.stderr
        eventually(lambda: _status(relay.http_port, HOST) == "502")
        assert curl(wanted).stdout.startswith(PAGE.decode())
        assert relay.server.dig(HOST) == [RELAY_IPV4]
        last = control_command("-O", "cancel", "-R", f"{wanted}:127.0.0.1:{home}")
        assert last.returncode == 0, last.stderr
        eventually(lambda: curl(wanted).returncode != 0)
        eventually(lambda: relay.server.dig(HOST) == [])


def test_a_new_session_of_the_host_replaces_the_old_one(relay: Relay, home: int) -> None:
    """A reconnect (after a router redial, say) wins over a half-dead old connection: the
    old one is closed with a reason and visitors reach the new one."""
    http = relay.http_port
    with tunnel(relay, HOST, f"{http}:127.0.0.1:{home}", key=relay.keys[HOST]) as first:
        assert curl(http, HOST).stdout.startswith(PAGE.decode())
        with (
            serving(_OtherPage) as new_home,
            tunnel(relay, HOST, f"{http}:127.0.0.1:{new_home}", key=relay.keys[HOST]) as second,
        ):
            assert not refused_forward(second), second.output()
            assert curl(http, HOST).stdout == OTHER_PAGE.decode()
            assert refused_login(first) == 255
            assert "session ended by the relay" in first.output()
            assert curl(http, HOST).stdout == OTHER_PAGE.decode()


# -- refusals -----------------------------------------------------------------------


def test_a_host_cannot_open_another_hosts_tunnel(relay: Relay, home: int) -> None:
    forward = f"{relay.http_port}:127.0.0.1:{home}"
    # HOST's key, logging in as OTHER.
    with tunnel(relay, OTHER, forward, key=relay.keys[HOST]) as ssh:
        assert refused_login(ssh) == 255
    assert "Permission denied" in ssh.output()
    # HOST's secret as OTHER's password.
    with tunnel(relay, OTHER, forward, secret=relay.secrets[HOST]) as ssh:
        assert refused_login(ssh) == 255
    assert "Permission denied" in ssh.output()
    assert _status(relay.http_port, OTHER) == "502"


def test_an_unregistered_key_is_refused(relay: Relay, home: int) -> None:
    stranger = relay.keys["stranger"]
    with tunnel(relay, HOST, f"{relay.http_port}:127.0.0.1:{home}", key=stranger) as ssh:
        assert refused_login(ssh) == 255
    assert "Permission denied (publickey,password)" in ssh.output()


def test_shell_commands_and_local_forwarding_are_refused_with_a_hint(
    relay: Relay, home: int
) -> None:
    base = ssh_args(relay, HOST, key=relay.keys[HOST])
    for extra in ([], ["uname", "-a"]):
        result = subprocess.run(
            [*base, *extra], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
        )
        assert result.returncode == 1, result.stderr
        assert "tunnels only" in result.stderr
        assert result.stdout == ""
    # -W and -L open direct-tcpip channels: refused, with the reason.
    stdio = subprocess.run(
        [*base[:1], "-W", f"127.0.0.1:{home}", *base[1:]],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert stdio.returncode == 255
    assert "administratively prohibited" in stdio.stderr
    assert "tunnels only" in stdio.stderr
    (local,) = free_ports(1)
    ssh = Ssh([base[0], "-v", "-N", "-L", f"127.0.0.1:{local}:127.0.0.1:{home}", *base[1:]])
    try:
        # OpenSSH logs "Local forwarding listening on" before bind(); the channel comes
        # after listen().
        assert ssh.wait_for("new port-listener"), ssh.output()
        visit = curl(local)
        assert visit.returncode != 0
        assert ssh.wait_for(
            "open failed: administratively prohibited: homeport relay: tunnels only"
        ), f"{visit}\n{ssh.output()}"
    finally:
        ssh.stop()


def test_a_wrong_secret_is_refused_then_throttled_but_the_right_one_still_works(
    tmp_path: Path, home: int
) -> None:
    # Budgets of 3 failures that grow back by one a minute: spent within this test.
    relay = start_relay(
        tmp_path,
        "[limits]",
        "failed_auth_per_minute = 1",
        "failed_auth_burst = 3",
        "failed_auth_per_name_per_minute = 1",
        "failed_auth_per_name_burst = 3",
    )
    try:
        forward = f"{relay.http_port}:127.0.0.1:{home}"
        # OpenSSH tries a password three times per connection: the budget of 3 is spent
        # by the first connection, the second is disconnected with the reason.
        outputs = []
        for _ in range(2):
            with tunnel(relay, HOST, forward, secret="not-the-secret") as ssh:
                assert refused_login(ssh) == 255
            outputs.append(ssh.output())
        assert "Permission denied" in outputs[0]
        assert "too many failed logins" in outputs[1]
        throttled = 'api=relay name="pi.dyn.example.net" reason=bad-secret answer=abuse'
        deadline = time.monotonic() + 10  # the server's log reaches us through a pipe
        while throttled not in "".join(relay.server.output) and time.monotonic() < deadline:
            time.sleep(0.05)
        log = "".join(relay.server.output)
        assert 'api=relay name="pi.dyn.example.net" reason=bad-secret answer=badauth' in log
        assert throttled in log
        assert "not-the-secret" not in log
        # A 256-bit secret is never refused for others' failures (same rule as dyndns2).
        with tunnel(relay, HOST, forward, secret=relay.secrets[HOST]) as ssh:
            assert not refused_forward(ssh), ssh.output()
            assert curl(relay.http_port, HOST).stdout.startswith(PAGE.decode())
    finally:
        stop_server(relay.server)


def test_a_client_that_stops_answering_is_dropped_by_keepalives(tmp_path: Path, home: int) -> None:
    """A frozen client (SIGSTOP: its kernel still ACKs, so TCP alone never notices) loses
    its session once keepalives go unanswered for 4/3 x heartbeat (here 3 s -> 4 s)."""
    key = make_key(tmp_path / "key")
    relay = start_relay(tmp_path, "heartbeat = 3", keys={HOST: key})
    try:
        with tunnel(relay, HOST, f"{relay.http_port}:127.0.0.1:{home}", key=key) as ssh:
            assert not refused_forward(ssh), ssh.output()
            assert _status(relay.http_port, HOST) == "200"
            os.kill(ssh.proc.pid, signal.SIGSTOP)
            try:
                server_line(relay.server, rf"relay ssh: {HOST}\. session ended: .*keepalive")
                eventually(lambda: _status(relay.http_port, HOST) == "502")
            finally:
                os.kill(ssh.proc.pid, signal.SIGCONT)
    finally:
        stop_server(relay.server)


# -- keys -----------------------------------------------------------------------------


def test_the_relays_host_key_is_made_once_0600_and_kept_across_restarts(tmp_path: Path) -> None:
    relay = start_relay(tmp_path)
    try:
        first = _host_key(relay)
    finally:
        stop_server(relay.server)
    path = relay.server.data / "relay-ssh-host-key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    config = tmp_path / "server.toml"
    again = start_server(relay.server.data, "--config", str(config))
    try:
        assert _host_key(Relay(again, relay.http_port, relay.tls_port, relay.ssh_port, {})) == first
    finally:
        stop_server(again)


def _host_key(relay: Relay) -> str:
    result = subprocess.run(
        ["ssh-keyscan", "-t", "ed25519", "-p", str(relay.ssh_port), "127.0.0.1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    keys = [line.split(None, 1)[1] for line in result.stdout.splitlines() if line.strip()]
    assert len(keys) == 1, result.stdout + result.stderr
    return keys[0]


def test_ssh_key_commands_add_list_rm_and_a_removed_key_stops_at_once(
    relay: Relay, home: int, tmp_path: Path
) -> None:
    key = make_key(tmp_path / "laptop")
    pub = public_key(key).read_text()
    added = relay.server.admin_json("host", "ssh-key", "add", HOST, pub)
    assert isinstance(added, dict)
    fingerprint = str(added["fingerprint"])
    keygen = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(public_key(key))], capture_output=True, text=True
    )
    assert fingerprint in keygen.stdout
    listed = relay.server.admin_json("host", "ssh-key", "list", HOST)
    assert isinstance(listed, list)
    assert fingerprint in [k["fingerprint"] for k in listed]

    with tunnel(relay, HOST, f"{relay.http_port}:127.0.0.1:{home}", key=key) as ssh:
        assert not refused_forward(ssh), ssh.output()
    removed = relay.server.admin("host", "ssh-key", "rm", HOST, fingerprint)
    assert removed.returncode == 0, removed.stderr
    with tunnel(relay, HOST, f"{relay.http_port}:127.0.0.1:{home}", key=key) as ssh:
        assert refused_login(ssh) == 255
    assert "Permission denied" in ssh.output()


def test_a_bad_key_is_one_line_and_a_private_key_is_never_echoed(relay: Relay) -> None:
    bad = relay.server.admin("host", "ssh-key", "add", HOST, "ssh-ed25519 AAAAnotakey")
    assert bad.returncode == 64
    assert bad.stderr.startswith("homeport: error: not an ssh public key")
    assert bad.stderr.count("\n") == 1
    private = relay.keys[HOST].read_text()
    leaked = relay.server.admin("host", "ssh-key", "add", HOST, private)
    assert leaked.returncode == 64
    assert "private key" in leaked.stderr
    body = private.splitlines()[1]
    assert body not in leaked.stderr + leaked.stdout
