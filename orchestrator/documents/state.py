"""One document-level state, derived from the document's status and what each destination shows now.

The rule (also in the README, "Document state"): for every channel destination take the **latest** delivery
(publish, update or withdraw: what that destination shows or is about to show), ignore destinations whose latest
delivery was cancelled, then the first line that matches wins:

==============  ==========  ===================================================================================
state           label       when
==============  ==========  ===================================================================================
pending_review  待审查      the document waits for 保密审查
rejected        审查未通过  the reviewer refused it (a new version goes back to review)
withdrawing     撤回中      withdrawn, and a withdrawal is still on its way to some destination
withdraw_failed 撤回未完成  withdrawn, and a withdrawal failed or the channel is not configured (ops must act)
withdrawn       已撤回      withdrawn, every withdrawal done (or nothing had been published)
no_channels     无投递      active, but no delivery at all (the entry names no channel) or all were cancelled
failed          发布失败    every destination failed, is not configured, or removed the article
partial_failure 部分失败    some destination failed, is not configured, or removed the article
manual          待人工处理  some destination waits for a person to do the work and confirm it
publishing      发布中      some destination is pending, queued, sending, retrying or waiting for the channel
scheduled       定时待发    what is left waits for its 定时发布 time
published       已发布      every destination delivered (or verified live)
==============  ==========  ===================================================================================

``state_from_statuses`` is the pure rule; ``document_states`` computes it for a page of documents with one aggregate
query (no query per document); ``state_of_document`` does it from a document whose deliveries are already loaded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from orchestrator.models import DONE_STATUSES, Delivery, DeliveryStatus, Document, DocumentStatus

STATE_LABELS: dict[str, str] = {
    "pending_review": "待审查",
    "rejected": "审查未通过",
    "withdrawing": "撤回中",
    "withdraw_failed": "撤回未完成",
    "withdrawn": "已撤回",
    "no_channels": "无投递",
    "failed": "发布失败",
    "partial_failure": "部分失败",
    "manual": "待人工处理",
    "publishing": "发布中",
    "scheduled": "定时待发",
    "published": "已发布",
}
# The CSS badge class (the delivery state colours of the web app) for each document state.
STATE_BADGES: dict[str, str] = {
    "pending_review": "awaiting_confirmation", "rejected": "failed", "withdrawing": "sending",
    "withdraw_failed": "failed", "withdrawn": "cancelled", "no_channels": "cancelled", "failed": "failed",
    "partial_failure": "failed", "manual": "awaiting_confirmation", "publishing": "sending", "scheduled": "scheduled",
    "published": "delivered",
}

BAD = frozenset({DeliveryStatus.failed, DeliveryStatus.not_configured, DeliveryStatus.removed})
IN_FLIGHT = frozenset({DeliveryStatus.pending, DeliveryStatus.queued, DeliveryStatus.sending, DeliveryStatus.retrying,
                       DeliveryStatus.awaiting_channel})


@dataclass(frozen=True)
class DocState:
    state: str

    @property
    def label(self) -> str:
        return STATE_LABELS[self.state]

    @property
    def badge(self) -> str:
        return STATE_BADGES[self.state]


def state_from_statuses(doc_status: str, latest: Iterable[str]) -> DocState:
    """The rule above, from the document's status and the status of the latest delivery per destination."""
    if doc_status == DocumentStatus.pending_review:
        return DocState("pending_review")
    if doc_status == DocumentStatus.rejected:
        return DocState("rejected")
    live = [s for s in latest if s != DeliveryStatus.cancelled]
    if doc_status == DocumentStatus.withdrawn:
        if any(s in IN_FLIGHT or s == DeliveryStatus.scheduled for s in live):
            return DocState("withdrawing")
        if any(s in BAD for s in live):
            return DocState("withdraw_failed")
        return DocState("withdrawn")
    if not live:
        return DocState("no_channels")
    bad = sum(1 for s in live if s in BAD)
    if bad == len(live):
        return DocState("failed")
    if bad:
        return DocState("partial_failure")
    if any(s == DeliveryStatus.awaiting_confirmation for s in live):
        return DocState("manual")
    if any(s in IN_FLIGHT for s in live):
        return DocState("publishing")
    if any(s == DeliveryStatus.scheduled for s in live):
        return DocState("scheduled")
    if all(s in DONE_STATUSES for s in live):
        return DocState("published")
    return DocState("publishing")  # pragma: no cover - every status is named above


def _latest_per_destination(deliveries: Iterable[Delivery]) -> list[str]:
    latest: dict[tuple[str, str], tuple[int, str]] = {}
    for d in deliveries:
        key = (d.channel, d.destination)
        if key not in latest or d.id > latest[key][0]:
            latest[key] = (d.id, d.status)
    return [s for _, s in latest.values()]


def state_of_document(doc: Document) -> DocState:
    """For a document whose deliveries are loaded (the document page, the API)."""
    return state_from_statuses(doc.status, _latest_per_destination(doc.deliveries))


def document_states(session: Session, docs: Iterable[tuple[int, str]]) -> dict[int, DocState]:
    """``{document id: state}`` for (id, status) pairs: one aggregate query over the latest delivery per destination."""
    docs = list(docs)
    if not docs:
        return {}
    ids = [i for i, _ in docs]
    latest_ids = (select(func.max(Delivery.id)).where(Delivery.document_id.in_(ids))
                  .group_by(Delivery.document_id, Delivery.channel, Delivery.destination))
    per_doc: dict[int, list[str]] = {}
    for doc_id, status, n in session.execute(
        select(Delivery.document_id, Delivery.status, func.count()).where(Delivery.id.in_(latest_ids))
        .group_by(Delivery.document_id, Delivery.status)
    ):
        per_doc.setdefault(doc_id, []).extend([status] * n)
    return {i: state_from_statuses(st, per_doc.get(i, [])) for i, st in docs}
