"""The Celery worker and beat command lines, and the queues a worker serves (the CLI and ``serve`` both use these)."""

from __future__ import annotations

import sys
from pathlib import Path

from channels import registry as channel_registry
from channels.plugin import channel_codes
from orchestrator.catalog.channel_map import load_channel_map
from orchestrator.catalog.errors import CatalogError
from orchestrator.delivery.celery_app import DEFAULT_QUEUE, queue_for


def all_queues() -> list[str]:
    """The default queue plus one per channel: the channel map's codes, those the installed channel packages serve,
    and any extra channel in channels.yaml."""
    try:
        codes = list(load_channel_map().labels)
    except CatalogError:
        codes = []
    codes += [c for c in channel_codes() if c not in codes]
    try:
        codes += [c for c in channel_registry.current().channels if c not in codes]
    except OSError:
        pass
    return [DEFAULT_QUEUE, *[queue_for(c) for c in codes]]


def worker_argv(queues: list[str], concurrency: int, pool: str = "prefork", name: str | None = None) -> list[str]:
    argv = [sys.executable, "-m", "celery", "-A", "orchestrator.delivery.celery_app:app", "worker", "-Q", ",".join(queues),
            "-c", str(concurrency), "--pool", pool, "--without-gossip", "--without-mingle", "-l", "INFO"]
    if name:
        argv += ["-n", name]
    return argv


def beat_argv(schedule: Path) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "orchestrator.delivery.celery_app:app", "beat", "-s", str(schedule), "-l", "INFO"]
