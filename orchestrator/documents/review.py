"""保密审查: approve or reject a document held for review, and switch review on or off per catalog entry."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import contains_eager

from orchestrator.db import session_scope
from orchestrator.documents.common import create_deliveries, hand_off_new, locked_document
from orchestrator.documents.inputs import Conflict, NotFound
from orchestrator.models import CatalogEntryRow, DocumentStatus, Publisher
from orchestrator.settings import Settings, get_settings


def approve(document_id: int, reviewer: str, *, settings: Settings | None = None) -> list[int]:
    """保密审查 passed: create the deliveries the submission held back."""
    settings = settings or get_settings()
    with session_scope() as session:
        doc = locked_document(session, document_id)
        if doc.status != DocumentStatus.pending_review:
            raise Conflict("该文件不在待审核状态")
        doc.status = DocumentStatus.active
        version = doc.versions[-1]
        deliveries = create_deliveries(session, settings, doc, version, "publish", list(doc.entry.channels))
        ids = [d.id for d in deliveries]
    hand_off_new(deliveries)
    return ids


def reject(document_id: int, reviewer: str, reason: str) -> None:
    with session_scope() as session:
        doc = locked_document(session, document_id)
        if doc.status != DocumentStatus.pending_review:
            raise Conflict("该文件不在待审核状态")
        doc.status = DocumentStatus.rejected
        doc.withdraw_reason = f"审核未通过（{reviewer}）：{reason}"


def set_entry_review(entry_id: int, review: bool | None) -> CatalogEntryRow:
    """Admin: switch 保密审查 on or off for one catalog entry (None: follow the catalog file again).

    Stored on the row in a column that catalog syncs and re-imports never write, so the decision survives both.
    Documents already submitted keep their state; the switch applies to the next submission (and to a new version
    of a rejected document)."""
    with session_scope() as session:
        entry = session.scalars(select(CatalogEntryRow).where(CatalogEntryRow.id == entry_id)
                                .options(contains_eager(CatalogEntryRow.publisher)).join(Publisher)).first()
        if entry is None:
            raise NotFound(f"目录事项 {entry_id} 不存在")
        entry.review_override = review
        session.flush()
        session.expunge(entry)
        return entry
