"""FanoutStack: the whole product minus the web server, for end-to-end tests.

Real Celery worker processes and a real beat (subprocesses) against the session's PostgreSQL and private Redis,
a temporary copy of ``config/`` with the test's channel destinations, the catalogs synced into the database, and
helpers to submit documents, wait for delivery states, and kill things.

    def test_x(orch_env, redis_server, tmp_path):
        with FanoutStack(orch_env, tmp_path, channels={"website": [{"name": "push", "adapter": "http_push", "url": ...}]},
                         redis=redis_server) as stack:
            res = stack.submit(entry="履职依据/规范性文件", title="…", body="<p>…</p>", formed_on="2026-11-02")
            stack.wait_until(res.document_id, lambda ds: all(d["status"] == "delivered" for d in ds))

``both_databases`` (a fixture, registered in conftest.py) is ``orch_env`` parametrised over PostgreSQL and the embedded
default's database, a SQLite file: the tests that take it run on both.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(params=["postgresql", "sqlite"])
def both_databases(request, orch_env: dict[str, str], tmp_path: Path, monkeypatch) -> dict[str, str]:
    """``orch_env`` on PostgreSQL, or on a migrated SQLite file (what ``orchestrator serve`` uses without
    ORCH_DATABASE_URL): the same product code picks its store per engine."""
    if request.param == "postgresql":
        return orch_env
    from orchestrator import db, settings

    url = f"sqlite:///{tmp_path / 'orchestrator.db'}"
    db.upgrade_database(url)
    monkeypatch.setenv("ORCH_DATABASE_URL", url)
    settings.get_settings.cache_clear()
    db.reset_caches()
    return {**orch_env, "ORCH_DATABASE_URL": url}


ALL_CHANNELS = ["website", "gazette", "wechat", "bulletin_board", "targeted_push", "press", "broadcast", "print",
                "reading_room", "service_center", "service_station", "onsite", "other"]


class FanoutStack:
    def __init__(
        self,
        env: dict[str, str],
        tmp_path: Path,
        *,
        channels: dict[str, list[dict[str, Any]]] | None = None,
        catalogs: list[Path] | None = None,
        redis=None,
        workers: int = 1,
        concurrency: int = 2,
        beat: bool = True,
        settings: dict[str, str] | None = None,
        config_files: dict[str, str] | None = None,
    ) -> None:
        self.tmp = tmp_path
        self.redis = redis
        self.n_workers = workers
        self.concurrency = concurrency
        self.use_beat = beat
        self.config_dir = tmp_path / "config"
        self.env = dict(env)
        self.env.update({
            "ORCH_CONFIG_DIR": str(self.config_dir),
            "ORCH_SWEEP_INTERVAL_SECONDS": "1",
            "ORCH_STUCK_PENDING_SECONDS": "3",
            "ORCH_LEASE_SECONDS": "15",
            "ORCH_TASK_TIME_LIMIT_SECONDS": "10",
            "ORCH_BACKOFF_BASE_SECONDS": "0.5",
            "ORCH_BACKOFF_CAP_SECONDS": "4",
            "PYTHONPATH": str(ROOT),
        })
        for k, v in (settings or {}).items():  # None: drop the harness's value, the product default applies
            if v is None:
                self.env.pop(k, None)
            else:
                self.env[k] = v
        self.channels = channels or {}
        self.catalogs = catalogs
        self.config_files = config_files or {}  # relative path in the config dir → text, written over the copied config
        self.workers: list[subprocess.Popen] = []
        self.beat: subprocess.Popen | None = None
        self._saved_env: dict[str, str | None] = {}

    # --- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> FanoutStack:
        shutil.copytree(ROOT / "config", self.config_dir, dirs_exist_ok=True)
        if self.catalogs is not None:
            for old in (self.config_dir / "catalogs").glob("*.yaml"):
                old.unlink()
            for c in self.catalogs:
                shutil.copy(c, self.config_dir / "catalogs" / c.name)
        for rel, text in self.config_files.items():
            (self.config_dir / rel).write_text(text, encoding="utf-8")
        spec: dict[str, Any] = {}
        for code in [*ALL_CHANNELS, *[c for c in self.channels if c not in ALL_CHANNELS]]:
            if code in self.channels:
                spec[code] = {"destinations": self.channels[code]}
            else:
                spec[code] = {"destinations": []}
        (self.config_dir / "channels.yaml").write_text(yaml.safe_dump({"channels": spec}, allow_unicode=True), encoding="utf-8")
        self._apply_env()
        from orchestrator.catalog_sync import sync_all
        from orchestrator.db import session_scope
        from orchestrator.settings import get_settings

        with session_scope() as s:
            mine = {p.id for p in sync_all(s, get_settings().catalogs_dir)}
            # The session's database is shared by many tests: other publishers' entries (synced by earlier stacks)
            # would make a path like 履职依据/规范性文件 ambiguous. This stack sees only its own catalogs.
            from sqlalchemy import update

            from orchestrator.models import CatalogEntryRow

            s.execute(update(CatalogEntryRow).where(CatalogEntryRow.publisher_id.not_in(mine)).values(active=False))
        for _ in range(self.n_workers):
            self.start_worker()
        if self.use_beat:
            self.start_beat()
        return self

    def __exit__(self, *exc) -> None:
        for p in self.workers:
            self._stop(p)
        if self.beat:
            self._stop(self.beat)
        for k, v in self._saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        self._reset_caches()

    def _apply_env(self) -> None:
        for k, v in self.env.items():
            if k.startswith("ORCH_") and os.environ.get(k) != v:
                self._saved_env.setdefault(k, os.environ.get(k))
                os.environ[k] = v
        self._reset_caches()

    @staticmethod
    def _reset_caches() -> None:
        from orchestrator import db, settings
        from orchestrator.delivery.celery_app import reconfigure

        settings.get_settings.cache_clear()
        db.reset_caches()
        reconfigure()

    def queues(self) -> str:
        return ",".join(["orchestrator", *[f"deliver.{c}" for c in ALL_CHANNELS]])

    def start_worker(self, concurrency: int | None = None) -> subprocess.Popen:
        n = len(self.workers)
        log = open(self.tmp / f"worker{n}.log", "ab")  # noqa: SIM115 (kept open for the process's life)
        p = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "orchestrator.delivery.celery_app:app", "worker", "-Q", self.queues(),
             "-c", str(concurrency or self.concurrency), "--pool", "prefork", "-n", f"w{n}-{os.getpid()}@%h",
             "--without-gossip", "--without-mingle", "-l", "INFO"],
            env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.workers.append(p)
        return p

    def start_beat(self) -> None:
        log = open(self.tmp / "beat.log", "ab")  # noqa: SIM115
        self.beat = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "orchestrator.delivery.celery_app:app", "beat", "-s",
             str(self.tmp / "beat-schedule"), "-l", "INFO"],
            env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def kill_worker(self, index: int = 0) -> None:
        """kill -9 the worker's whole process group (main process and pool children), mid-flight."""
        p = self.workers[index]
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()

    @staticmethod
    def _stop(p: subprocess.Popen) -> None:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(10)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()

    # --- driving the product ---------------------------------------------------------------------
    def submit(self, uploads: list[Path] | None = None, **fields: Any):
        from orchestrator.documents import inputs, submission

        fields.setdefault("formed_on", dt.date.today().isoformat())
        ups = [inputs.Upload(p.name, p.open("rb")) for p in (uploads or [])]
        try:
            return submission.submit(fields, ups)
        finally:
            for u in ups:
                u.stream.close()

    def deliveries(self, document_id: int | list[int] | None = None) -> list[dict[str, Any]]:
        from sqlalchemy import select

        from orchestrator.db import session_scope
        from orchestrator.models import Delivery

        with session_scope() as s:
            q = select(Delivery).order_by(Delivery.id)
            if isinstance(document_id, list):
                q = q.where(Delivery.document_id.in_(document_id))
            elif document_id is not None:
                q = q.where(Delivery.document_id == document_id)
            return [
                {"id": d.id, "document_id": d.document_id, "channel": d.channel, "destination": d.destination,
                 "action": d.action, "status": d.status, "attempts": d.attempts, "last_error": d.last_error,
                 "receipt": d.receipt, "idempotency_key": d.idempotency_key, "version": d.version}
                for d in s.scalars(q)
            ]

    def wait_until(self, document_id: int | list[int] | None, predicate: Callable[[list[dict]], bool], timeout: float = 60,
                   what: str = "") -> list[dict]:
        deadline = time.monotonic() + timeout
        rows: list[dict] = []
        while time.monotonic() < deadline:
            rows = self.deliveries(document_id)
            if rows and predicate(rows):
                return rows
            time.sleep(0.2)
        states = sorted({(r["channel"], r["status"], r["last_error"][:80]) for r in rows})
        raise AssertionError(f"timed out waiting for {what or 'deliveries'}; states: {states}\n{self.logs_tail()}")

    def wait_settled(self, document_id: int | list[int] | None = None, timeout: float = 60) -> list[dict]:
        settled = {"delivered", "verified", "failed", "not_configured", "cancelled", "awaiting_confirmation", "removed"}
        return self.wait_until(document_id, lambda ds: all(d["status"] in settled for d in ds), timeout, "settled deliveries")

    def logs_tail(self, n: int = 30) -> str:
        out = []
        for f in sorted(self.tmp.glob("*.log")):
            lines = f.read_text(errors="replace").splitlines()[-n:]
            out.append(f"--- {f.name}\n" + "\n".join(lines))
        return "\n".join(out)
