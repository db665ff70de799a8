"""Shared fixtures: a private PostgreSQL database and Redis server per session, migrated with Alembic."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fanout_harness import both_databases  # noqa: F401  (a fixture: orch_env on PostgreSQL and on SQLite)
from tests.services import PostgresDatabase, RedisServer

# Fixtures shared by several modules (the push channel's SMTP server and webhook receiver).
pytest_plugins = ["tests.push_support"]

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"


# Tests that need an outside service or program. Skipping them is honest on a developer's machine (the reason names the
# missing piece); under CI (``CI`` set) such a skip fails the run, since scripts/ensure-services.sh installs them all.
SERVICE_MARKERS = ("requires_service", "browser")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if not (report.skipped and os.environ.get("CI") and not hasattr(report, "wasxfail")):
        return
    if not any(item.get_closest_marker(m) for m in SERVICE_MARKERS):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = (f"CI must not skip a test that needs a service ({reason}); "
                       "scripts/ensure-services.sh should have installed and started it")


@pytest.fixture(autouse=True)
def _settings_from_this_tests_environment() -> None:
    """Every test reads the settings of its own environment: a test that patched ``ORCH_*`` variables and cached
    settings must not leave them to the next test (monkeypatch restores the variables only after the cache was filled)."""
    from orchestrator.settings import get_settings

    get_settings.cache_clear()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    db = PostgresDatabase().create()
    try:
        yield db.url
    finally:
        db.drop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    try:
        yield server
    finally:
        server.stop()


def run_migrations(url: str) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["url"] = url
    command.upgrade(cfg, "heads")


@pytest.fixture(scope="session")
def migrated_pg(pg_url: str) -> str:
    run_migrations(pg_url)
    return pg_url


@pytest.fixture
def orch_env(migrated_pg: str, redis_server: RedisServer, tmp_path: Path, monkeypatch) -> dict[str, str]:
    """Point the app at the session's PostgreSQL and Redis, with a fresh var dir; returns the env for subprocesses."""
    from orchestrator import db, settings

    env = {
        "ORCH_DATABASE_URL": migrated_pg,
        "ORCH_BROKER_URL": redis_server.url,
        "ORCH_VAR_DIR": str(tmp_path / "var"),
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    settings.get_settings.cache_clear()
    db.reset_caches()
    yield {**os.environ, **env}
    settings.get_settings.cache_clear()
    db.reset_caches()
