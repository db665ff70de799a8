"""Entering an event date (事件日期) for a document whose time limit counts from an event: web form and REST API."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy.orm import selectinload

from orchestrator import access
from orchestrator.auth import Principal
from orchestrator.db import session_scope
from orchestrator.documents import events
from orchestrator.documents.inputs import DATE_MAX, DATE_MIN, FieldError, NotFound, ServiceError, date_in_range
from orchestrator.models import Document
from orchestrator.notify.deadlines import today_of

_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")
LABEL = "事件日期"


def parse_event_date(value: Any) -> dt.date:
    """A date typed as 2026-11-20, 2026/11/20 or 2026年11月20日; a clear Chinese refusal otherwise."""
    if isinstance(value, dt.date):
        d = value
    else:
        text = str(value or "").strip()
        if not text:
            raise ServiceError([FieldError(LABEL, "请填写事件日期")])
        m = _DATE.match(text[:40])
        if not m:
            raise ServiceError([FieldError(LABEL, f"“{text[:40]}”不是日期，请按 2026-11-20 的格式填写")])
        try:
            d = dt.date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            raise ServiceError([FieldError(LABEL, f"“{text[:40]}”不是有效日期（月份或日期超出范围）")]) from None
    if not date_in_range(d):
        raise ServiceError([FieldError(LABEL, f"日期超出可受理的范围（{DATE_MIN} 至 {DATE_MAX}）")])
    return d


def enter_event_date(document_id: int, value: Any, user: Principal) -> dict[str, Any]:
    d = parse_event_date(value)
    with session_scope() as s:
        doc = access.readable_document(s, user, document_id, selectinload(Document.entry))
        if doc is None:
            raise NotFound(f"文件 {document_id} 不存在，或不属于您所在科室")
        if not user.may_submit_for(list(doc.entry.offices or [])):
            raise ServiceError([FieldError(LABEL, "您所在科室不是该目录事项的责任科室，不能填写事件日期")], status=403)
        try:
            change = events.set_event_date(s, doc, d, user.username, today_of())
        except events.EventDateError as exc:
            raise ServiceError([FieldError(LABEL, str(exc))]) from exc
        return {"document_id": doc.id, "event_date": d.isoformat(),
                "due_date": doc.due_date.isoformat() if doc.due_date else None,
                "due_date_provisional": doc.due_date_provisional, "note": change.note}
