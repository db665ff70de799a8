"""Review decisions: sign off a step of the review chain (the last one releases the deliveries) or reject, and switch
review on or off per catalog entry. The chain's rules live in ``orchestrator.review``."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import contains_eager

from orchestrator.auth import Principal
from orchestrator.checks import gate as content_checks
from orchestrator.db import session_scope
from orchestrator.documents.common import create_deliveries, hand_off_new, locked_document
from orchestrator.documents.inputs import Conflict, NotFound, ServiceError
from orchestrator.models import CatalogEntryRow, DocumentStatus, Publisher
from orchestrator.review import chains as review_chains
from orchestrator.settings import Settings, get_settings


def _reviewing(fn, *args, **kwargs):
    """A review-chain decision; its refusals become ServiceErrors (403 wrong reviewer, 409 stale, 422 bad input)."""
    try:
        return fn(*args, **kwargs)
    except review_chains.ReviewRefused as exc:
        raise ServiceError(str(exc), status=exc.status) from exc


def approve(document_id: int, reviewer: str, *, settings: Settings | None = None,
            principal: Principal | None = None, step: int | str | None = None, comment: str = "") -> list[int]:
    """Sign off the current review step; after the last one, create the deliveries the submission held back.

    ``principal``: the person acting, checked against the step (None: a trusted internal caller). ``step``: the step
    the reviewer saw (refused when the document has moved on). Returns the new delivery ids ([] before the last step).
    """
    settings = settings or get_settings()
    with session_scope() as session:
        doc = locked_document(session, document_id)
        if doc.status != DocumentStatus.pending_review:
            raise Conflict("该文件不在待审核状态")
        refusal = content_checks.approval_refusal(session, doc.id)  # the dictionary may have changed since submission
        if refusal:
            raise Conflict(refusal)
        if not _reviewing(review_chains.approve_step, session, doc, reviewer, principal=principal, step=step,
                          comment=comment):
            return []  # the next step waits: nothing is delivered before the last sign-off
        doc.status = DocumentStatus.active
        version = doc.versions[-1]
        deliveries = create_deliveries(session, settings, doc, version, "publish", list(doc.entry.channels))
        ids = [d.id for d in deliveries]
    hand_off_new(deliveries)
    return ids


def reject(document_id: int, reviewer: str, reason: str, *, principal: Principal | None = None,
           step: int | str | None = None) -> None:
    with session_scope() as session:
        doc = locked_document(session, document_id)
        if doc.status != DocumentStatus.pending_review:
            raise Conflict("该文件不在待审核状态")
        _reviewing(review_chains.reject_step, session, doc, reviewer, reason, principal=principal, step=step)
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
