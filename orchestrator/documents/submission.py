"""Submit once: register a document against a catalog entry, with one delivery per channel destination.

Validates first (messages a clerk understands), writes index number, document, version, deliveries and attachments in
one transaction through the delivery store (:func:`orchestrator.delivery.store.store_for`), then hands the queued
deliveries to the broker.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import lru_cache
from typing import NamedTuple

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session, contains_eager

from orchestrator.access import may_read
from orchestrator.auth import Principal
from orchestrator.calendar import CalendarError, default_calendar, due_date
from orchestrator.catalog.schema import TimeLimit
from orchestrator.checks import gate as content_checks
from orchestrator.checks.models import ContentCheckState
from orchestrator.db import session_scope
from orchestrator.delivery.store import store_for
from orchestrator.documents import events
from orchestrator.documents.common import check_body, destinations, hand_off_new, precheck, store_uploads
from orchestrator.documents.content import content_hash
from orchestrator.documents.inputs import (
    FieldError,
    ServiceError,
    SubmitRequest,
    SubmitResult,
    Upload,
    date_in_range,
    date_range_text,
    formed_on_in_future,
    parse_submit,
    today_local,
)
from orchestrator.models import CatalogEntryRow, Document, DocumentStatus, Publisher, utcnow
from orchestrator.review import chains as review_chains
from orchestrator.review.models import ReviewBinding
from orchestrator.settings import Settings, get_settings


def _entry_row(session: Session, ref: str, publisher: str | None, *extra):
    ref = ref.strip().strip("/")
    q = select(CatalogEntryRow, *extra).join(Publisher).options(contains_eager(CatalogEntryRow.publisher)).where(
        CatalogEntryRow.active.is_(True), or_(CatalogEntryRow.code == ref, CatalogEntryRow.path_text == ref)
    )
    if publisher:
        q = q.where(Publisher.name == publisher)
    rows = session.execute(q).all()
    if not rows:
        raise ServiceError([FieldError("目录事项", f"找不到目录事项“{ref}”（请填写编码或“一级/二级”路径）")])
    if len(rows) > 1:
        entries = [r[0] for r in rows]
        publishers = sorted({e.publisher.name for e in entries})
        if len(publishers) > 1:
            msg = f"“{ref}”在多个发布机构的目录中都有（{'、'.join(publishers)}），请指定发布机构"
        else:
            codes = "、".join(f"{e.code}（{(e.time_limit or {}).get('text') or e.content[:20]}）" for e in entries)
            msg = f"“{ref}”对应多个目录条目：{codes}，请用编码指定"
        raise ServiceError([FieldError("目录事项", msg)])
    return rows[0]


def find_entry(session: Session, ref: str, publisher: str | None = None) -> CatalogEntryRow:
    return _entry_row(session, ref, publisher)[0]


class EntryForSubmission(NamedTuple):
    entry: CatalogEntryRow
    dictionary_version: int  # the content-check dictionary's version (its matcher is cached per version)
    may_have_review_binding: bool  # False: no review binding of the publisher can apply (resolve needs no query)


def find_entry_for_submission(session: Session, ref: str, publisher: str | None = None) -> EntryForSubmission:
    """``find_entry``, with the two small facts a submission reads next, in the same round trip."""
    version = select(ContentCheckState.version).where(ContentCheckState.id == 1).scalar_subquery()
    bound = exists().where(ReviewBinding.publisher_id == CatalogEntryRow.publisher_id,
                           or_(ReviewBinding.entry_code == CatalogEntryRow.code, ReviewBinding.entry_code == ""))
    entry, dictionary_version, may_bind = _entry_row(session, ref, publisher, version.label("dictionary_version"),
                                                      bound.label("may_have_review_binding"))
    return EntryForSubmission(entry, dictionary_version or 0, bool(may_bind))


class DueInfo(NamedTuple):
    date: dt.date | None
    note: str
    provisional: bool


def compute_due(entry: CatalogEntryRow, start: dt.date) -> tuple[dt.date | None, str]:
    info = compute_due_info(entry, start)
    return info.date, info.note


def compute_due_info(entry: CatalogEntryRow, start: dt.date) -> DueInfo:
    """The due date, how it was counted (Chinese), and whether it is provisional (暂估)."""
    cal = default_calendar()
    try:
        cal.overrides  # noqa: B018 - re-reads stale tables, so the memo key below sees a new version
    except CalendarError as exc:
        return DueInfo(None, f"无法自动计算截止日期：{exc}", False)
    # Pure in (rule, start, holiday tables): memoised, keyed on the tables' version so a reload is seen.
    return _compute_due(json.dumps(entry.time_limit or {}, sort_keys=True, ensure_ascii=False), start,
                        (id(cal), cal.version))


@lru_cache(maxsize=4096)
def _compute_due(rule_json: str, start: dt.date, _tables: tuple[int, int]) -> DueInfo:
    rule = TimeLimit.model_validate(json.loads(rule_json))
    try:
        due = due_date(rule, start)
    except CalendarError as exc:
        return DueInfo(None, f"无法自动计算截止日期：{exc}", False)
    return DueInfo(due.date, due.explanation, due.provisional)



def relation_errors(session: Session, req: SubmitRequest, reader: Principal | None, errors: list[FieldError]) -> str:
    """Check 关联文件 and 关联方式; returns the kind to store ("" when there is no relation).

    The target must exist and be readable by the submitter (a document the submitter may not read answers like a
    missing one); a 政策解读 must point at the policy itself, never at another interpretation or a withdrawn file."""
    if req.related_document_id is None:
        if req.related_kind:
            errors.append(FieldError("关联文件", f"关联方式为“{req.related_kind}”时请填写关联文件编号"))
        return ""
    kind = req.related_kind or "解读"
    target = session.get(Document, req.related_document_id)
    if target is None or (reader is not None and not may_read(session, reader, target.id)):
        errors.append(FieldError("关联文件", f"关联文件 {req.related_document_id} 不存在"))
        return kind
    if kind == "解读":
        if target.related_document_id is not None and (target.related_kind or "解读") == "解读":
            errors.append(FieldError("关联文件", f"关联文件 {target.id}《{target.title}》本身是政策解读，"
                                                "请关联被解读的政策文件"))
        elif target.status == DocumentStatus.withdrawn:
            errors.append(FieldError("关联文件", f"关联文件 {target.id}《{target.title}》已撤销，不能再为其发布解读"))
    return kind


def submit(data: SubmitRequest | dict, uploads: list[Upload] | None = None, *, settings: Settings | None = None,
           enqueue: bool = True, reader: Principal | None = None) -> SubmitResult:
    """Register a document against a catalog entry and write one delivery per channel destination.

    ``reader``: the submitting user, when a front end submits for one (the 关联文件 must be readable by them)."""
    settings = settings or get_settings()
    req = data if isinstance(data, SubmitRequest) else parse_submit(data)
    with session_scope() as session:
        entry, dictionary_version, may_bind = find_entry_for_submission(session, req.entry, req.publisher)
        errors: list[FieldError] = []
        if entry.warnings and not entry.channels:
            errors.append(FieldError("目录事项", f"目录事项“{entry.path_text}”未标明公开渠道，需管理员先复核目录"))
        html, body_errors, warnings = check_body(req.body, req.body_format, req.confirm_personal_data, settings)
        errors += body_errors
        checked = content_checks.at_submission(session, req.title, html, req.confirm_content_warnings,
                                               dictionary_version=dictionary_version)
        errors += [FieldError(f, m) for f, m in checked.errors]
        warnings += checked.warnings
        future = formed_on_in_future(req.formed_on)
        if future:
            errors.append(FieldError("生成日期", future))
        if req.event_date is not None and req.event_date > today_local():
            errors.append(FieldError("事件日期", f"事件日期 {req.event_date.isoformat()} 晚于今天：请在事件发生后填写"))
        if req.display_from and req.display_until and req.display_until <= req.display_from:
            errors.append(FieldError("展示结束", "展示结束时间必须晚于开始时间"))
        related_kind = relation_errors(session, req, reader, errors)
        if req.validity != "有效" and req.validity_date is None:
            errors.append(FieldError("有效性日期", f"有效性为“{req.validity}”时请填写其日期"))
        if req.validity_date is not None and not date_in_range(req.validity_date):
            errors.append(FieldError("有效性日期", date_range_text()))
        payload_kwargs = dict(
            document_id=0, version=1, index_no="", title=req.title, body_html=html, doc_number=req.doc_number,
            formed_on=req.formed_on, publisher=entry.publisher.name, entry_code=entry.code, entry_path=tuple(entry.path),
        )
        errors += precheck(settings, list(entry.channels), payload_kwargs, req.channel_options)
        if errors:
            raise ServiceError(errors)
        stored = store_uploads(settings, uploads or [])
        start = events.due_start(entry, req.formed_on, req.event_date)
        due, due_note, due_provisional = (compute_due_info(entry, start) if start is not None
                                          else DueInfo(None, events.awaiting_note(entry), False))
        # review chains: the one that applies, if any
        resolved_chain = review_chains.resolve(session, entry, bindings_possible=may_bind)
        needs_review = resolved_chain is not None
        document = {
            "publisher_id": entry.publisher_id, "entry_id": entry.id, "title": req.title, "formed_on": req.formed_on,
            "office": (entry.offices or [""])[0], "due_date": due, "due_note": due_note,
            "due_date_provisional": due_provisional, "publish_at": req.publish_at,
            "display_from": req.display_from, "display_until": req.display_until,
            "related_document_id": req.related_document_id, "related_kind": related_kind,
            "submitted_by": req.submitted_by,
            "validity": req.validity, "validity_date": req.validity_date, "subject_words": req.subject_words,
            "channel_options": req.channel_options,
            "status": DocumentStatus.pending_review if needs_review else DocumentStatus.active,
        }
        version = {
            "version": 1, "title": req.title, "body_html": html, "body_source": req.body,
            "body_format": req.body_format, "doc_number": req.doc_number, "summary": req.summary,
            "personal_data_confirmed": req.confirm_personal_data, "content_hash": content_hash(req.title, html),
            "created_by": req.submitted_by,
        }
        channels = [] if needs_review else list(entry.channels)
        store = store_for(session.get_bind())
        written = store.write_submission(session, settings, entry.publisher, req.formed_on.year, document, version,
                                         destinations(settings, channels), req.publish_at, utcnow())
        store.insert_attachments(session, written.version_id, stored)
        deliveries = written.deliveries
        content_checks.record(session, written.document_id, 1, checked, req.submitted_by)
        events.record(session, written.document_id, entry, req.event_date, req.submitted_by)
        result = SubmitResult(written.document_id, written.index_no, due, due_note, [d.id for d in deliveries],
                              warnings, due_provisional)
        if needs_review:
            result.warnings.append(review_chains.start(session, written.document_id, entry, version=1,
                                                       actor=req.submitted_by, resolved=resolved_chain))
    if enqueue:
        # The rows were written in this transaction (now committed): hand the queued ones over, no query needed.
        hand_off_new(deliveries)
    return result
