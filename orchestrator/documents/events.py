"""Due dates that count from an event (批复, 公示期满, 审核通过 …): the clerk gives the event date, the due date follows.

An entry whose time limit is ``after_event`` asks for the event date at submission (form field 事件日期, API field
``event_date``). Without it the document is written with no due date and the note "待填写事件日期", gets a
``document_events`` row with the event's name and an empty date, and sits in the clerk's 我的待办 until someone enters
the date on the document page (or ``POST /api/v1/documents/{id}/event-date``); the due date is then counted from it.
Documents written before this existed (no ``document_events`` row) keep counting from 生成日期, as they always did.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.calendar import CalendarError, due_date
from orchestrator.catalog.schema import TimeLimit, TimeLimitKind
from orchestrator.models import CatalogEntryRow, Document, DocumentStatus, DueDateChange, utcnow
from orchestrator.notify.models import DocumentEvent

EVENT_NAMES = {
    "approval": "批复（批准）",
    "comment_period_end": "公告期（征求意见期）结束",
    "review": "审核通过",
}
AWAITING = "待填写事件日期"


def event_name(time_limit: dict[str, Any] | None) -> str | None:
    """The event an entry's time limit counts from, in words; None when it counts from 生成日期."""
    rule = time_limit or {}
    if rule.get("kind") != TimeLimitKind.after_event:
        return None
    origin = str(rule.get("from") or rule.get("from_") or "")
    return EVENT_NAMES.get(origin, origin or "相关事件")


def due_start(entry: CatalogEntryRow, formed_on: dt.date, event_date: dt.date | None) -> dt.date | None:
    """The day the due date counts from: the event date for an event rule (None until given), else 生成日期."""
    if event_name(entry.time_limit) is None:
        return formed_on
    return event_date


def awaiting_note(entry: CatalogEntryRow) -> str:
    name = event_name(entry.time_limit) or "相关事件"
    return f"{AWAITING}：公开时限“{(entry.time_limit or {}).get('text', '')}”从{name}之日起算，请填写{name}日期后计算截止日期。"


def record(session: Session, document_id: int, entry: CatalogEntryRow, event_date: dt.date | None, who: str) -> None:
    """At submission: remember the event (and its date when given) for an event rule; nothing otherwise."""
    name = event_name(entry.time_limit)
    if name is None:
        return
    session.add(DocumentEvent(document_id=document_id, event_name=name[:100], event_date=event_date,
                              entered_by=who[:100] if event_date else "", entered_at=utcnow() if event_date else None))


def start_of(session: Session, doc: Document) -> dt.date | None:
    """Where ``doc``'s due date counts from now (None: still waiting for the event date)."""
    ev = session.get(DocumentEvent, doc.id)
    if ev is None:
        return doc.formed_on
    return ev.event_date


def view(session: Session, doc: Document) -> dict[str, Any] | None:
    ev = session.get(DocumentEvent, doc.id)
    if ev is None:
        return None
    return {"name": ev.event_name, "date": ev.event_date, "by": ev.entered_by, "at": ev.entered_at,
            "awaiting": ev.event_date is None}


class EventDateError(ValueError):
    """Refused (Chinese message)."""


def set_event_date(session: Session, doc: Document, event_date: dt.date, who: str, today: dt.date) -> DueDateChange:
    """Enter (or correct) the event date and count the due date from it; the change is kept on the document page."""
    ev = session.get(DocumentEvent, doc.id)
    if ev is None:
        raise EventDateError("该文件的公开时限不从事件起算，无需填写事件日期")
    if doc.status == DocumentStatus.withdrawn:
        raise EventDateError("文件已撤回，不能再填写事件日期")
    if event_date > today:
        raise EventDateError(f"事件日期 {event_date.isoformat()} 晚于今天（{today.isoformat()}）：请在事件发生后填写")
    if event_date < doc.formed_on - dt.timedelta(days=366 * 5):
        raise EventDateError("事件日期早于生成日期五年以上，请核对")
    try:
        due = due_date(TimeLimit.model_validate(doc.entry.time_limit or {}), event_date)
    except CalendarError as exc:
        raise EventDateError(f"无法按该日期计算截止日期：{exc}") from exc
    note = (f"{ev.event_name}日期{'更正' if ev.event_date else '填写'}为 {event_date.isoformat()}（{who}），"
            f"截止日期由{doc.due_date.isoformat() if doc.due_date else '（待定）'}更新为"
            f"{due.date.isoformat() if due.date else '（无法自动计算）'}")
    change = DueDateChange(document_id=doc.id, at=utcnow(), old_date=doc.due_date, new_date=due.date,
                           old_provisional=doc.due_date_provisional, new_provisional=due.provisional, note=note)
    session.add(change)
    ev.event_date, ev.entered_by, ev.entered_at = event_date, who[:100], utcnow()
    doc.due_date, doc.due_note, doc.due_date_provisional = due.date, due.explanation, due.provisional
    return change


def awaiting_ids(session: Session, document_ids: list[int]) -> set[int]:
    if not document_ids:
        return set()
    return set(session.scalars(select(DocumentEvent.document_id).where(
        DocumentEvent.document_id.in_(document_ids), DocumentEvent.event_date.is_(None))))
