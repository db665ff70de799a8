"""Shared queries and serialisers: the REST API, the CLI and the web views read documents and deliveries through these.

The JSON shapes are the REST API's (``delivery_json``, ``document_json``, ``entry_json``); ``load_document`` applies the
office rule (``orchestrator.access``); ``delivery_filters`` is the one reading of the delivery-list filters.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import HTTPException
from sqlalchemy import Select, or_
from sqlalchemy.orm import Session, selectinload

from orchestrator import access, auth
from orchestrator.documents import inputs
from orchestrator.documents.deliveries import STATUS_LABELS
from orchestrator.documents.state import state_of_document
from orchestrator.models import (
    CatalogEntryRow,
    Delivery,
    DeliveryStatus,
    Document,
    DocumentVersion,
    Publisher,
)

TZ = ZoneInfo("Asia/Shanghai")
_CHANNEL = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
DATE_RANGE_MESSAGE = f"日期超出可受理的范围（{inputs.DATE_MIN.isoformat()} 至 {inputs.DATE_MAX.isoformat()}）"


def fail(status: int, message: str, field: str = "", headers: dict[str, str] | None = None) -> HTTPException:
    return HTTPException(status_code=status, detail=[{"field": field, "message": message}], headers=headers)


def timestamp(v: dt.datetime | None) -> str | None:
    if v is None:
        return None
    if v.tzinfo is None:  # SQLite hands back naive values; they were written as UTC
        v = v.replace(tzinfo=dt.UTC)
    return v.isoformat()


def delivery_json(d: Delivery, *, detail: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": d.id, "document_id": d.document_id, "version": d.version, "channel": d.channel,
        "destination": d.destination, "action": d.action, "status": d.status,
        "status_label": STATUS_LABELS.get(d.status, d.status), "attempts": d.attempts, "max_attempts": d.max_attempts,
        "idempotency_key": d.idempotency_key, "last_error": d.last_error, "error_class": d.error_class,
        "receipt": d.receipt or {}, "next_attempt_at": timestamp(d.next_attempt_at), "not_before": timestamp(d.not_before),
        "created_at": timestamp(d.created_at), "updated_at": timestamp(d.updated_at), "queued_at": timestamp(d.queued_at),
        "delivered_at": timestamp(d.delivered_at), "verified_at": timestamp(d.verified_at),
        "confirmed_by": d.confirmed_by, "confirmed_at": timestamp(d.confirmed_at), "confirmation_note": d.confirmation_note,
        "evidence_filename": d.evidence_filename, "evidence_sha256": d.evidence_sha256, "follows_id": d.follows_id,
    }
    if detail:
        out["attempts_log"] = [
            {"number": a.number, "operation": a.operation, "started_at": timestamp(a.started_at), "ended_at": timestamp(a.ended_at),
             "outcome": a.outcome, "error_class": a.error_class, "message": a.message,
             "response_excerpt": a.response_excerpt, "worker": a.worker}
            for a in d.attempts_log
        ]
        out["transitions"] = [
            {"from": t.from_status, "to": t.to_status, "at": timestamp(t.at), "reason": t.reason, "actor": t.actor}
            for t in d.transitions
        ]
    return out


def document_json(doc: Document) -> dict[str, Any]:
    state = state_of_document(doc)
    return {
        "id": doc.id, "index_no": doc.index_no, "status": doc.status, "state": state.state, "state_label": state.label,
        "title": doc.title,
        "current_version": doc.current_version, "publisher": doc.publisher.name,
        "entry": {"code": doc.entry.code, "path": list(doc.entry.path), "channels": list(doc.entry.channels)},
        "office": doc.office, "formed_on": doc.formed_on.isoformat(),
        "due_date": doc.due_date.isoformat() if doc.due_date else None, "due_note": doc.due_note,
        "due_date_provisional": bool(doc.due_date_provisional),
        "publish_at": timestamp(doc.publish_at), "display_from": timestamp(doc.display_from), "display_until": timestamp(doc.display_until),
        "validity": doc.validity, "validity_date": doc.validity_date.isoformat() if doc.validity_date else None,
        "subject_words": doc.subject_words,
        "related_document_id": doc.related_document_id, "related_kind": doc.related_kind or None,
        "submitted_by": doc.submitted_by,
        "created_at": timestamp(doc.created_at), "withdrawn_at": timestamp(doc.withdrawn_at), "withdraw_reason": doc.withdraw_reason,
        "versions": [
            {"version": v.version, "title": v.title, "body_html": v.body_html, "body_format": v.body_format,
             "doc_number": v.doc_number, "summary": v.summary, "change_note": v.change_note,
             "personal_data_confirmed": v.personal_data_confirmed, "created_by": v.created_by,
             "created_at": timestamp(v.created_at),
             "attachments": [{"filename": a.filename, "content_type": a.content_type, "size": a.size, "sha256": a.sha256}
                             for a in v.attachments]}
            for v in doc.versions
        ],
        "deliveries": [delivery_json(d, detail=True) for d in doc.deliveries],
    }


def entry_json(e: CatalogEntryRow) -> dict[str, Any]:
    return {
        "code": e.code, "path": list(e.path), "path_text": e.path_text, "publisher": e.publisher.name,
        "content": e.content, "time_limit": e.time_limit, "keep_public": e.keep_public, "channels": list(e.channels),
        "offices": list(e.offices), "audience": e.audience, "warnings": list(e.warnings), "active": e.active,
    }


def load_document(session: Session, document_id: int, user: auth.Principal | None = None) -> Document:
    """A document with everything it carries. ``user``: the reader the office rule applies to (the web app's rule,
    orchestrator.access; another office's document answers like a missing one); None only for the local CLI, whose
    operator has the server itself."""
    doc = access.readable_document(
        session, user or access.UNLIMITED, document_id,
        selectinload(Document.versions).selectinload(DocumentVersion.attachments),
        selectinload(Document.deliveries).selectinload(Delivery.attempts_log),
        selectinload(Document.deliveries).selectinload(Delivery.transitions),
    )
    if doc is None:
        raise fail(404, f"文件 {document_id} 不存在")
    return doc


def day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=TZ)


def split_list(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def delivery_filters(q: Select, *, channel: str | None, status: str | None, action: str | None,
                      publisher: str | None, office: str | None, entry: str | None, document_id: int | None,
                      created_from: dt.date | None, created_to: dt.date | None) -> Select:
    errors = []
    statuses = split_list(status)
    bad = [s for s in statuses if s not in DeliveryStatus.__members__]
    if bad:
        errors.append({"field": "状态", "message": f"不存在的状态：{'、'.join(bad)}（可选：{'、'.join(DeliveryStatus)}）"})
    channels = split_list(channel)
    if any(not _CHANNEL.match(c) for c in channels):
        errors.append({"field": "渠道", "message": "渠道编码格式不正确（如 website、gazette）"})
    if action and action not in ("publish", "update", "withdraw"):
        errors.append({"field": "动作", "message": "可选：publish、update、withdraw"})
    for day, label in ((created_from, "起始日期"), (created_to, "截止日期")):
        if day is not None and not inputs.date_in_range(day):
            errors.append({"field": label, "message": DATE_RANGE_MESSAGE})
    if created_from and created_to and created_to < created_from:
        errors.append({"field": "截止日期", "message": "截止日期不能早于起始日期"})
    if errors:
        raise HTTPException(422, detail=errors)
    if statuses:
        q = q.where(Delivery.status.in_(statuses))
    if channels:
        q = q.where(Delivery.channel.in_(channels))
    if action:
        q = q.where(Delivery.action == action)
    if document_id is not None:
        q = q.where(Delivery.document_id == document_id)
    if publisher or office or entry:
        q = q.join(Document, Document.id == Delivery.document_id)
        if publisher:
            q = q.join(Publisher, Publisher.id == Document.publisher_id).where(Publisher.name == publisher.strip())
        if office:
            q = q.where(Document.office == office.strip())
        if entry:
            ref = entry.strip().strip("/")
            q = q.join(CatalogEntryRow, CatalogEntryRow.id == Document.entry_id).where(
                or_(CatalogEntryRow.code == ref, CatalogEntryRow.path_text == ref))
    if created_from:
        q = q.where(Delivery.created_at >= day_start(created_from))
    if created_to:
        q = q.where(Delivery.created_at < day_start(created_to + dt.timedelta(days=1)))
    return q
