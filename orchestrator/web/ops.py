"""Ops: the live dashboard (aggregate SQL only — it must stay fast at 100,000+ deliveries) and the delivery log.

Every dashboard figure is one GROUP BY or one bounded query over indexed columns; nothing loads all rows. The page
polls ``/ops/data.json`` and redraws its tables in place.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from fastapi import Form, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.orm import Session

from orchestrator.api.views import TZ, day_start
from orchestrator.auth import Role
from orchestrator.calendar import CalendarError, add_working_days
from orchestrator.db import session_scope
from orchestrator.documents import operations
from orchestrator.documents.operations import STATUS_LABELS, ServiceError
from orchestrator.documents.state import document_states
from orchestrator.models import (
    OPEN_STATUSES,
    CatalogEntryRow,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Document,
    DocumentStatus,
    utcnow,
)
from orchestrator.web.core import (
    ACTION_LABELS,
    OUTCOME_LABELS,
    WebError,
    channel_label,
    channel_labels,
    ctx_of,
    destination_label,
    error_class_label,
    fmt_age,
    fmt_time,
    page,
    render,
)
from orchestrator.web.holidays import schedule_notice

MATRIX_DOCS = 20
DEADLINE_ROWS = 50
FAILURE_GROUPS = 30
BULK_LIMIT = 500
ERROR_KEY_CHARS = 120
# "Pending" for the oldest-pending alert: everything still owed, except embargoed rows waiting for their time.
WAITING = sorted(s.value for s in OPEN_STATUSES - {DeliveryStatus.scheduled})
NOT_DONE = ["delivered", "verified", "cancelled", "removed"]


def _aware(v: dt.datetime | None) -> dt.datetime | None:
    if v is None:
        return None
    return v if v.tzinfo else v.replace(tzinfo=dt.UTC)


def _near_limit(today: dt.date) -> dt.date:
    try:
        return add_working_days(today, 3)
    except CalendarError:  # a year without a holiday table: fall back to calendar days rather than hide deadlines
        return today + dt.timedelta(days=3)


def dashboard_data(session: Session) -> dict[str, Any]:
    now = utcnow()
    today = now.astimezone(TZ).date()
    labels = channel_labels()

    counts: dict[str, dict[str, int]] = {}
    for channel, status, n in session.execute(
        select(Delivery.channel, Delivery.status, func.count()).group_by(Delivery.channel, Delivery.status)
    ):
        counts.setdefault(channel, {})[status] = n

    oldest = []
    for channel, first, n in session.execute(
        select(Delivery.channel, func.min(Delivery.created_at), func.count())
        .where(Delivery.status.in_(WAITING)).group_by(Delivery.channel)
    ):
        age = (now - _aware(first)).total_seconds() if first else None
        oldest.append({"channel": channel, "label": labels.get(channel, channel), "since": fmt_time(first),
                       "age_seconds": age, "age": fmt_age(age), "count": n})
    oldest.sort(key=lambda r: -(r["age_seconds"] or 0))

    err_key = func.substr(Delivery.last_error, 1, ERROR_KEY_CHARS)
    failures = []
    for channel, status, error_class, err, n, latest in session.execute(
        select(Delivery.channel, Delivery.status, Delivery.error_class, err_key, func.count(), func.max(Delivery.updated_at))
        .where(Delivery.status.in_([DeliveryStatus.failed, DeliveryStatus.not_configured]))
        .group_by(Delivery.channel, Delivery.status, Delivery.error_class, err_key)
        .order_by(func.count().desc()).limit(FAILURE_GROUPS)
    ):
        failures.append({"channel": channel, "label": labels.get(channel, channel), "status": status,
                         "status_label": STATUS_LABELS.get(status, status), "error_class": error_class,
                         "error_class_label": error_class_label(error_class),
                         "error": err or "", "count": n, "latest": fmt_time(latest)})

    docs = list(session.execute(
        select(Document.id, Document.title, Document.index_no, Document.status, Document.due_date,
               Document.due_date_provisional).order_by(Document.id.desc()).limit(MATRIX_DOCS)
    ))
    cells: dict[int, dict[str, tuple[int, str]]] = {}
    if docs:
        # The latest delivery per document and channel (publish, update or withdraw): what that channel shows now.
        for doc_id, channel, did, status in session.execute(
            select(Delivery.document_id, Delivery.channel, Delivery.id, Delivery.status)
            .where(Delivery.document_id.in_([d.id for d in docs]))
        ):
            cur = cells.setdefault(doc_id, {}).get(channel)
            if cur is None or did > cur[0]:
                cells[doc_id][channel] = (did, status)
    matrix_channels = sorted({c for per in cells.values() for c in per})
    states = document_states(session, [(d.id, d.status) for d in docs])
    matrix = [{"id": d.id, "title": d.title, "index_no": d.index_no, "doc_status": d.status,
               "state": states[d.id].state, "state_label": states[d.id].label, "state_badge": states[d.id].badge,
               "due_date": d.due_date.isoformat() if d.due_date else "", "provisional": d.due_date_provisional,
               "cells": {c: {"status": s, "label": STATUS_LABELS.get(s, s)} for c, (_, s) in cells.get(d.id, {}).items()}}
              for d in docs]

    near = _near_limit(today)
    owed = exists().where(Delivery.document_id == Document.id, Delivery.action == "publish",
                          Delivery.status.not_in(NOT_DONE))
    due_filter = and_(Document.due_date.is_not(None), Document.due_date <= near,
                      or_(Document.status == DocumentStatus.pending_review,
                          and_(Document.status == DocumentStatus.active, owed)))
    deadline_rows = []
    due_docs = list(session.execute(
        select(Document.id, Document.title, Document.index_no, Document.due_date, Document.status, Document.office,
               Document.due_date_provisional)
        .where(due_filter).order_by(Document.due_date, Document.id).limit(DEADLINE_ROWS)
    ))
    due_states = document_states(session, [(d.id, d.status) for d in due_docs])
    for d in due_docs:
        past = d.due_date < today
        deadline_rows.append({"id": d.id, "title": d.title, "index_no": d.index_no, "due_date": d.due_date.isoformat(),
                              "provisional": d.due_date_provisional,
                              "office": d.office, "past": past, "status_label": due_states[d.id].label,
                              "state": due_states[d.id].state, "days": (d.due_date - today).days})
    past_count = session.scalar(select(func.count()).select_from(Document).where(due_filter, Document.due_date < today)) or 0
    near_count = session.scalar(select(func.count()).select_from(Document).where(due_filter, Document.due_date >= today)) or 0

    totals = {s: sum(per.get(s, 0) for per in counts.values()) for s in {s for per in counts.values() for s in per}}
    # Delivered, but the public copy never checked out after every re-check (核验失败): few rows, indexed.
    verify_failed = session.scalar(select(func.count()).select_from(Delivery).where(
        Delivery.status == DeliveryStatus.delivered, Delivery.verify_tries > 0, Delivery.verify_error != "")) or 0
    return {
        "generated_at": fmt_time(now, seconds=True),
        "status_labels": {str(k): v for k, v in STATUS_LABELS.items()},
        "channels": sorted(counts, key=lambda c: list(labels).index(c) if c in labels else 999),
        "channel_labels": {c: labels.get(c, c) for c in set(counts) | set(matrix_channels)},
        "counts": counts,
        "cards": {
            "waiting": sum(totals.get(s, 0) for s in WAITING),
            "failed": totals.get("failed", 0) + totals.get("not_configured", 0),
            "manual": totals.get("awaiting_confirmation", 0),
            "verify_failed": verify_failed,
            "past_due": past_count,
            "near_due": near_count,
        },
        "oldest": oldest,
        "failures": failures,
        "matrix_channels": matrix_channels,
        "matrix": matrix,
        "deadlines": deadline_rows,
        "near_limit": near.isoformat(),
    }


@page("GET", "/ops", (Role.ops,))
def dashboard(request: Request) -> Response:
    with session_scope() as s:
        data = dashboard_data(s)

    return render(request, "ops.html", ctx_of(request), title="投递监控", data=data, calendar_notice=schedule_notice())


@page("GET", "/ops/data.json", (Role.ops,))
def dashboard_json(request: Request) -> JSONResponse:
    with session_scope() as s:
        return JSONResponse(dashboard_data(s), headers={"Cache-Control": "no-store"})


@page("POST", "/ops/retry", (Role.ops,))
def bulk_retry(request: Request, channel: str = Form(..., max_length=40), status: str = Form("failed", max_length=30),
               error_class: str = Form("", max_length=80), error: str = Form("", max_length=ERROR_KEY_CHARS)) -> JSONResponse:
    """Retry every delivery of one failure group (same channel, state, error class and error text prefix)."""
    ctx = ctx_of(request)
    if status not in (DeliveryStatus.failed, DeliveryStatus.not_configured):
        raise WebError(422, "只能批量重试“失败”或“渠道未配置”的投递")
    with session_scope() as s:
        ids = list(s.scalars(
            select(Delivery.id).where(Delivery.channel == channel, Delivery.status == status,
                                      Delivery.error_class == error_class,
                                      func.substr(Delivery.last_error, 1, ERROR_KEY_CHARS) == error)
            .order_by(Delivery.id).limit(BULK_LIMIT)
        ))
    done, refused = 0, []
    for did in ids:
        try:
            operations.retry_delivery(did, ctx.user.username)
            done += 1
        except ServiceError as exc:  # e.g. the document was withdrawn meanwhile: report, carry on with the rest
            refused.append(f"投递 {did}：{exc}")
    return JSONResponse({"retried": done, "refused": refused[:20], "matched": len(ids),
                         "message": f"已重新排队 {done} 条投递" + (f"，{len(refused)} 条未重试" if refused else "")})


# --- delivery log --------------------------------------------------------------------------------

LOG_PAGE = 50
EXPORT_LIMIT = 100_000
TIME_COLUMNS = (0, 1)  # 尝试开始, 尝试结束: real date-time cells in the Excel export
# Column widths in the Excel export (characters; a CJK character counts about two).
XLSX_WIDTHS = [20, 20, 26, 40, 30, 16, 14, 16, 8, 8, 12, 18, 50, 14, 10, 10]
LOG_COLUMNS = ["尝试开始", "尝试结束", "索引号", "标题", "目录事项", "责任科室", "渠道", "去向", "动作", "第几次",
               "结果", "错误类型", "信息", "投递当前状态", "投递编号", "文件编号"]


def _log_query(f: dict[str, str]) -> Select:
    q = (select(DeliveryAttempt, Delivery, Document.index_no, Document.title, Document.office, CatalogEntryRow.code,
                CatalogEntryRow.path_text)
         .join(Delivery, Delivery.id == DeliveryAttempt.delivery_id)
         .join(Document, Document.id == Delivery.document_id)
         .join(CatalogEntryRow, CatalogEntryRow.id == Document.entry_id))
    if f["channel"]:
        q = q.where(Delivery.channel == f["channel"])
    if f["status"]:
        q = q.where(Delivery.status == f["status"])
    if f["outcome"]:
        q = q.where(DeliveryAttempt.outcome == f["outcome"])
    if f["office"]:
        q = q.where(Document.office == f["office"])
    if f["entry"]:
        ref = f["entry"].strip().strip("/")
        q = q.where(or_(CatalogEntryRow.code == ref, CatalogEntryRow.path_text == ref))
    if f["date_from"]:
        q = q.where(DeliveryAttempt.started_at >= day_start(dt.date.fromisoformat(f["date_from"])))
    if f["date_to"]:
        q = q.where(DeliveryAttempt.started_at < day_start(dt.date.fromisoformat(f["date_to"]) + dt.timedelta(days=1)))
    if f["q"]:
        like = f"%{f['q']}%"
        q = q.where(or_(DeliveryAttempt.message.ilike(like), DeliveryAttempt.error_class.ilike(like),
                        Delivery.last_error.ilike(like)))
    return q


def _filters(request: Request) -> tuple[dict[str, str], list[str]]:
    p = request.query_params
    f = {k: (p.get(k) or "").strip()[:200] for k in ("channel", "status", "outcome", "office", "entry", "date_from", "date_to", "q")}
    errors = []
    if f["status"] and f["status"] not in DeliveryStatus.__members__:
        errors.append("投递状态不正确")
        f["status"] = ""
    if f["outcome"] and f["outcome"] not in OUTCOME_LABELS:
        errors.append("尝试结果不正确")
        f["outcome"] = ""
    for key, name in (("date_from", "起始日期"), ("date_to", "截止日期")):
        if f[key]:
            try:
                if not operations.date_in_range(dt.date.fromisoformat(f[key])):
                    raise ValueError
            except ValueError:
                errors.append(f"{name}格式不正确或超出范围（应为 YYYY-MM-DD，{operations.DATE_MIN} 至 {operations.DATE_MAX}）")
                f[key] = ""
    if f["date_from"] and f["date_to"] and f["date_to"] < f["date_from"]:
        errors.append("截止日期不能早于起始日期")
    return f, errors


def _local(v: dt.datetime | None) -> dt.datetime | None:
    """Beijing wall-clock time without a zone: what a spreadsheet cell can hold as a real date-time."""
    v = _aware(v)
    return v.astimezone(TZ).replace(tzinfo=None) if v else None


def _row(a: DeliveryAttempt, d: Delivery, index_no: str, title: str, office: str, code: str, path: str,
         *, times: bool = False) -> list[Any]:
    started, ended = (_local(a.started_at), _local(a.ended_at)) if times else (fmt_time(a.started_at, True),
                                                                               fmt_time(a.ended_at, True))
    return [started, ended, index_no, title, f"{code} {path}", office,
            channel_label(d.channel), destination_label(d.channel, d.destination), ACTION_LABELS.get(d.action, d.action), a.number,
            OUTCOME_LABELS.get(a.outcome, a.outcome), error_class_label(a.error_class), a.message, STATUS_LABELS.get(d.status, d.status),
            d.id, d.document_id]


def _offices(session: Session) -> list[str]:
    return [o for o in session.scalars(select(Document.office).distinct().order_by(Document.office)) if o]


@page("GET", "/log", (Role.ops,))
def delivery_log(request: Request, page_no: int = 1) -> Response:
    f, errors = _filters(request)
    page_no = max(1, min(page_no, 1_000_000))
    with session_scope() as s:
        q = _log_query(f)
        total = s.scalar(select(func.count()).select_from(q.order_by(None).subquery())) or 0
        rows = [_row(*r) for r in s.execute(q.order_by(DeliveryAttempt.id.desc()).limit(LOG_PAGE)
                                              .offset((page_no - 1) * LOG_PAGE))]
        offices = _offices(s)
    query = urlencode({k: v for k, v in f.items() if v})
    return render(request, "log.html", ctx_of(request), title="投递日志", rows=rows, total=total, f=f, errors=errors,
                  page_no=page_no, pages=max(1, (total + LOG_PAGE - 1) // LOG_PAGE), offices=offices,
                  channels=channel_labels(), statuses=STATUS_LABELS, outcomes=OUTCOME_LABELS, columns=LOG_COLUMNS,
                  query=query)


def _safe_cell(v: Any) -> Any:
    """Spreadsheet formula injection: a title typed as ``=HYPERLINK(...)`` must stay text in Excel."""
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + v
    return v


def _export_rows(f: dict[str, str], *, times: bool = False) -> Iterator[list[Any]]:
    with session_scope() as s:
        q = _log_query(f).order_by(DeliveryAttempt.id.desc()).limit(EXPORT_LIMIT)
        for r in s.execute(q.execution_options(yield_per=2000)):
            yield [_safe_cell(v) for v in _row(*r, times=times)]


def _stamp() -> str:
    return dt.datetime.now(TZ).strftime("%Y%m%d-%H%M")


@page("GET", "/log.csv", (Role.ops,))
def log_csv(request: Request) -> Response:
    f, errors = _filters(request)
    if errors:
        raise WebError(422, "；".join(errors))

    def gen() -> Iterator[bytes]:
        # UTF-8 with a BOM: Excel on Windows otherwise opens Chinese CSV as GBK mojibake.
        buf = io.StringIO()
        w = csv.writer(buf)
        buf.write("\ufeff")
        w.writerow(LOG_COLUMNS)
        for row in _export_rows(f):
            w.writerow(row)
            if buf.tell() > 64 * 1024:
                yield buf.getvalue().encode("utf-8")
                buf.seek(0)
                buf.truncate()
        yield buf.getvalue().encode("utf-8")

    name = f"delivery-log-{_stamp()}.csv"
    return StreamingResponse(gen(), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})


@page("GET", "/log.xlsx", (Role.ops,))
def log_xlsx(request: Request) -> Response:
    f, errors = _filters(request)
    if errors:
        raise WebError(422, "；".join(errors))

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("投递日志")
    ws.freeze_panes = "A2"  # the header stays in view while scrolling
    for i, width in enumerate(XLSX_WIDTHS, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    bold = Font(bold=True)
    header = []
    for name in LOG_COLUMNS:
        cell = WriteOnlyCell(ws, value=name)
        cell.font = bold
        header.append(cell)
    ws.append(header)
    for row in _export_rows(f, times=True):
        for i in TIME_COLUMNS:
            if row[i] is not None:
                cell = WriteOnlyCell(ws, value=row[i])
                cell.number_format = "yyyy-mm-dd hh:mm:ss"
                row[i] = cell
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    name = f"delivery-log-{_stamp()}.xlsx"
    return Response(out.getvalue(), media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
