"""Shared set-up for the API, CLI and concurrency tests: a private database per module, channels, users, row counts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.services import PostgresDatabase

ROOT = Path(__file__).resolve().parent.parent
TEST_CATALOG = ROOT / "tests" / "data" / "catalogs" / "test-publisher.yaml"
PUBLISHER = "测试市司法局"
COUNTED = ("documents", "document_versions", "attachments", "deliveries", "delivery_transitions", "delivery_attempts",
           "index_sequences")

# Smallest files whose content matches their extension (attachments are checked by magic number).
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(scope="module")
def migrated_pg() -> Iterator[str]:
    """A fresh database for this module (overrides the session one): rows here never leak into other test files."""
    from tests.conftest import run_migrations

    db = PostgresDatabase().create()
    try:
        run_migrations(db.url)
        yield db.url
    finally:
        db.drop()


def write_channels(path: Path, channels: dict[str, list[dict[str, Any]]]) -> Path:
    codes = ["website", "gazette", "wechat", "bulletin_board", "targeted_push", "press", "broadcast", "print",
             "reading_room", "service_center", "service_station", "onsite", "other"]
    spec = {c: {"destinations": channels.get(c, [])} for c in codes}
    path.write_text(yaml.safe_dump({"channels": spec}, allow_unicode=True), encoding="utf-8")
    return path


def configure(monkeypatch, tmp_path: Path, redis_url: str, channels: dict[str, list[dict[str, Any]]],
              extra_catalogs: list[Path] | None = None) -> None:
    """Point settings at a channels file and a private Redis database number; sync the test catalog(s)."""
    from orchestrator import db, settings
    from orchestrator.catalog.schema import Catalog
    from orchestrator.catalog_sync import sync_catalog
    from orchestrator.delivery.celery_app import reconfigure

    monkeypatch.setenv("ORCH_CHANNELS_FILE", str(write_channels(tmp_path / "channels.yaml", channels)))
    # Our own Redis database: messages left on queues here are never consumed by other test files' workers.
    monkeypatch.setenv("ORCH_BROKER_URL", redis_url.rsplit("/", 1)[0] + "/9")
    settings.get_settings.cache_clear()
    db.reset_caches()
    reconfigure()
    with db.session_scope() as s:
        for path in [TEST_CATALOG, *(extra_catalogs or [])]:
            sync_catalog(s, Catalog.model_validate(yaml.safe_load(path.read_text(encoding="utf-8"))))


def counts() -> dict[str, int]:
    from sqlalchemy import text

    from orchestrator.db import session_scope

    with session_scope() as s:
        return {t: s.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in COUNTED}


def blob_count() -> int:
    from orchestrator.settings import get_settings

    d = get_settings().attachments_dir
    return sum(1 for p in d.rglob("*") if p.is_file() and not p.name.startswith(".")) if d.exists() else 0


def make_user(role: str, office: str = "") -> tuple[str, str]:
    """(username, token) for a new user with a unique name."""
    from orchestrator import auth

    name = f"{role}-{uuid.uuid4().hex[:8]}"
    auth.create_user(name, role, office=office)
    _, token = auth.create_token(name, "测试")
    return name, token
