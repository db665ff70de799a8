"""Review decisions: sign off a step of the review chain (the last one releases the deliveries), send back or reject,
and switch review on or off per catalog entry. The web app and the REST API both decide through these. The chain's rules live in ``orchestrator.review``."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, contains_eager

from orchestrator.auth import Principal
from orchestrator.checks import gate as content_checks
from orchestrator.db import session_scope
from orchestrator.documents.common import create_deliveries, hand_off_new, locked_document
from orchestrator.documents.inputs import Conflict, NotFound, ServiceError
from orchestrator.models import CatalogEntryRow, Document, DocumentStatus, Publisher
from orchestrator.review import chains as review_chains
from orchestrator.review.models import DocumentReview
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


def approve_summary(document_id: int, delivery_ids: list[int]) -> str:
    """What an approval did, in words (the web app's notice and the API's ``message``)."""
    with session_scope() as session:
        doc = session.get(Document, document_id)
        review = session.get(DocumentReview, document_id)
        if delivery_ids:
            lead = "保密审查已通过" if review and review.chain_name == review_chains.LEGACY_CHAIN else "审核全部通过"
            return f"{lead}，开始向 {len(delivery_ids)} 个渠道发布"
        if doc is not None and doc.status == DocumentStatus.active:
            return "审核全部通过（该事项没有公开渠道，未生成投递）"
        nxt = review.steps[review.current_step]["name"] if review and review.steps else ""
        return f"已通过，转入下一步“{nxt}”"


def send_back(document_id: int, principal: Principal, *, step: int | str | None, comment: str,
              target: int | str = "clerk") -> str:
    """Send the current step back to the clerk (``target`` "clerk") or to an earlier step (its index, or its name).
    The chain's rule for the current step decides who may; nothing is delivered. Returns a Chinese summary."""
    with session_scope() as session:
        doc = locked_document(session, document_id)
        return _reviewing(review_chains.send_back, session, doc, principal, step=step, comment=comment,
                          target=_target(session, doc, target))


def _target(session: Session, doc: Document, target: int | str) -> str:
    """A send-back target as the chain reads it: "clerk" or a step index (a step's name becomes its index; anything
    else is passed on and refused by the chain after its who-may-act check)."""
    text = str(target).strip()
    if text in ("", "clerk", "经办人"):
        return "clerk"
    review = session.get(DocumentReview, doc.id)
    if review is not None and not text.isdigit():
        for s in review.steps:
            if s["name"] == text:
                return str(s["index"])
    return text


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
