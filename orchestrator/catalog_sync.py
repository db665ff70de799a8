"""Copy the reviewed catalogs (``config/catalogs/*.yaml``) into the database, where documents point at entries."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from orchestrator.catalog.loader import load_catalogs
from orchestrator.catalog.schema import Catalog
from orchestrator.db import session_scope
from orchestrator.documents.profile import profile_prefix
from orchestrator.models import CatalogEntryRow, Publisher, utcnow
from orchestrator.settings import get_settings


def read_catalogs(directory: Path) -> list[Catalog]:
    """The reviewed catalogs, checked (schema, channel codes, duplicate codes) before anything is written."""
    return load_catalogs(directory)


def sync_catalog(session: Session, catalog: Catalog) -> Publisher:
    publisher = session.scalar(select(Publisher).where(Publisher.name == catalog.publisher))
    # The agency profile's 统一社会信用代码 (set by an admin in the web app) wins over the file's index_prefix.
    owned = profile_prefix(session, catalog.publisher)
    if publisher is None:
        publisher = Publisher(name=catalog.publisher, index_prefix=owned or catalog.index_prefix)
        session.add(publisher)
        session.flush()
    elif owned:
        publisher.index_prefix = owned
    elif catalog.index_prefix and publisher.index_prefix != catalog.index_prefix:
        publisher.index_prefix = catalog.index_prefix
    existing = {row.code: row for row in session.scalars(select(CatalogEntryRow).where(CatalogEntryRow.publisher_id == publisher.id))}
    seen = set()
    for entry in catalog.entries:
        seen.add(entry.code)
        row = existing.get(entry.code) or CatalogEntryRow(publisher_id=publisher.id, code=entry.code)
        row.path = list(entry.path)
        row.path_text = entry.path_text
        row.content = entry.content
        row.time_limit = entry.time_limit.model_dump(by_alias=True, mode="json")
        row.keep_public = entry.keep_public
        row.channels = list(entry.channels)
        row.offices = list(entry.offices)
        row.audience = entry.audience
        row.warnings = list(entry.warnings)
        row.options = dict(entry.options)
        if entry.freshness is not None:  # the file's freshness rule travels with the options (orchestrator/freshness.py)
            row.options["freshness"] = entry.freshness.model_dump(exclude_none=True)
        row.active = True
        row.synced_at = utcnow()
        session.add(row)
    # Entries gone from the file stay (documents point at them) but take no new submissions.
    for code, row in existing.items():
        if code not in seen:
            row.active = False
    session.flush()
    return publisher


def sync_all(session: Session, directory: Path) -> list[Publisher]:
    return [sync_catalog(session, c) for c in read_catalogs(directory)]


def sync_catalogs(directory: Path | None = None) -> list[tuple[str, int]]:
    """Sync every catalog in ``directory`` (default ``config/catalogs``); returns (publisher, active entries) pairs."""
    directory = directory or get_settings().catalogs_dir
    with session_scope() as s:
        publishers = sync_all(s, directory)
        return [(p.name, s.scalar(select(func.count()).where(CatalogEntryRow.publisher_id == p.id,
                                                              CatalogEntryRow.active.is_(True))) or 0)
                for p in publishers]
