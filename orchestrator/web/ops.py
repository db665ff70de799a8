"""Ops: the live dashboard (aggregate SQL only — it must stay fast at 100,000+ deliveries) and the delivery log.

Every dashboard figure is one GROUP BY or one bounded query over indexed columns; nothing loads all rows. The page
polls ``/ops/data.json`` and redraws its tables in place.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from fastapi import Form, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlalchemy import Select, and_, exists, func, literal_column, or_, select, text
from sqlalchemy.orm import Session

from orchestrator.api.views import TZ, day_start
from orchestrator.auth import Role
from orchestrator.calendar import CalendarError, add_working_days
from orchestrator.compliance.linkcheck import open_count as open_link_problems
from orchestrator.db import session_scope
from orchestrator.documents import deliveries, inputs
from orchestrator.documents.deliveries import STATUS_LABELS
from orchestrator.documents.inputs import ServiceError
from orchestrator.documents.state import document_states
from orchestrator.models import (
    ERROR_KEY_CHARS,
    OPEN_STATUSES,
    CatalogEntryRow,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Document,
    DocumentStatus,
    utcnow,
)
from orchestrator.notify import deadlines
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
from orchestrator.web.opscounts import delivery_counts

FAILING = [DeliveryStatus.failed.value, DeliveryStatus.not_configured.value]
MATRIX_DOCS = 20
DEADLINE_ROWS = 50
DUE_COUNT_CAP = 1000
FAILURE_GROUPS = 30
BULK_LIMIT = 500
# "Pending" for the oldest-pending alert: everything still owed, except embargoed rows waiting for their time.
WAITING = sorted(s.value for s in OPEN_STATUSES - {DeliveryStatus.scheduled})
NOT_DONE = ["delivered", "verified", "cancelled", "removed"]


def _capped_text(n: int) -> str:
    return f"{DUE_COUNT_CAP:,}+" if n > DUE_COUNT_CAP else str(n)


def _error_key() -> Any:
    """The failure-group key, spelt exactly like the index expression (constants, not parameters) so it is used."""
    return func.substr(Delivery.last_error, literal_column("1"), literal_column(str(ERROR_KEY_CHARS)))


def _aware(v: dt.datetime | None) -> dt.datetime | None:
    if v is None:
        return None
    return v if v.tzinfo else v.replace(tzinfo=dt.UTC)


def _near_limit(today: dt.date) -> dt.date:
    try:
        return add_working_days(today, 3)
    except CalendarError:  # a year without a holiday table: fall back to calendar days rather than hide deadlines
        return today + dt.timedelta(days=3)


def interactive(session: Session) -> None:
    """Plan settings for the ops views' small, index-driven queries on PostgreSQL, for this transaction only.

    At a million rows the planner's cost estimates pass the JIT threshold (compiling costs ~100 ms, more than the
    queries) and it starts parallel workers for backward index scans that stop after 50 rows (each worker then reads
    far more than the 50 rows needed). Neither helps a page that reads a few hundred index entries.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL jit = off"))
        session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))


def dashboard_data(session: Session) -> dict[str, Any]:
    interactive(session)
    now = utcnow()
    today = now.astimezone(TZ).date()
    labels = channel_labels()

    # Channel × status counts and the failure groups come from the trigger-maintained counts (opscounts): their cost
    # does not grow with the number of deliveries.
    counted = delivery_counts(session)
    counts: dict[str, dict[str, int]] = {}
    for r in counted:
        per = counts.setdefault(r.channel, {})
        per[r.status] = per.get(r.status, 0) + r.n

    # Oldest waiting delivery per channel: one index probe (channel, status, created_at) per channel × waiting state.
    waiting = [(c, st) for c, per in counts.items() for st in WAITING if per.get(st)]
    firsts: dict[str, dt.datetime] = {}
    if waiting:
        probes = [select(func.min(Delivery.created_at)).where(Delivery.channel == c, Delivery.status == st).scalar_subquery()
                  for c, st in waiting]
        for (c, _), first in zip(waiting, session.execute(select(*probes)).one(), strict=True):
            first = _aware(first)
            if first is not None and (c not in firsts or first < firsts[c]):
                firsts[c] = first
    oldest = []
    for channel in sorted({c for c, _ in waiting}):
        first = firsts.get(channel)
        age = (now - first).total_seconds() if first else None
        oldest.append({"channel": channel, "label": labels.get(channel, channel), "since": fmt_time(first),
                       "age_seconds": age, "age": fmt_age(age), "count": sum(counts[channel].get(st, 0) for st in WAITING)})
    oldest.sort(key=lambda r: -(r["age_seconds"] or 0))

    groups = sorted((r for r in counted if r.status in FAILING and r.n > 0), key=lambda r: -r.n)[:FAILURE_GROUPS]
    latest_of: list[dt.datetime | None] = []
    if groups:
        # Newest change per group: one probe each on the partial index ix_deliveries_failure_groups.
        # Spelt as ORDER BY the index's columns ... LIMIT 1: PostgreSQL does not turn max() into that over an
        # expression index, and would read the whole group.
        probes = [select(Delivery.updated_at).where(
            Delivery.status.in_(FAILING), Delivery.channel == r.channel, Delivery.status == r.status,
            Delivery.error_class == r.error_class, _error_key() == r.error_key)
            .order_by(Delivery.channel.desc(), Delivery.status.desc(), Delivery.error_class.desc(), _error_key().desc(),
                      Delivery.updated_at.desc()).limit(1).scalar_subquery() for r in groups]
        latest_of = list(session.execute(select(*probes)).one())
    failures = []
    for r, latest in zip(groups, latest_of, strict=True):
        failures.append({"channel": r.channel, "label": labels.get(r.channel, r.channel), "status": r.status,
                         "status_label": STATUS_LABELS.get(r.status, r.status), "error_class": r.error_class,
                         "error_class_label": error_class_label(r.error_class),
                         "error": r.error_key, "count": r.n, "latest": fmt_time(latest)})

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
    # Two disjoint halves (in review; active and still owing a publication), each ordered by due date: written as one
    # OR, PostgreSQL hashes every owed delivery first; apart, each half reads only the index entries it returns.
    near_due = and_(Document.due_date.is_not(None), Document.due_date <= near)
    halves = [and_(near_due, Document.status == DocumentStatus.pending_review),
              and_(near_due, Document.status == DocumentStatus.active, owed)]
    deadline_rows = []
    due_docs = sorted((r for half in halves for r in session.execute(
        select(Document.id, Document.title, Document.index_no, Document.due_date, Document.status, Document.office,
               Document.due_date_provisional)
        .where(half).order_by(Document.due_date, Document.id).limit(DEADLINE_ROWS)
    )), key=lambda d: (d.due_date, d.id))[:DEADLINE_ROWS]
    due_states = document_states(session, [(d.id, d.status) for d in due_docs])
    for d in due_docs:
        past = d.due_date < today
        deadline_rows.append({"id": d.id, "title": d.title, "index_no": d.index_no, "due_date": d.due_date.isoformat(),
                              "provisional": d.due_date_provisional,
                              "office": d.office, "past": past, "status_label": due_states[d.id].label,
                              "state": due_states[d.id].state, "days": (d.due_date - today).days})
    # Counted up to DUE_COUNT_CAP (then shown as "1,000+"): past that, the number no longer changes what ops do, and
    # counting every overdue document of a big platform's history would cost a scan per refresh.
    def capped(*where: Any) -> int:
        return sum(session.scalar(select(func.count()).select_from(
            select(Document.id).where(half, *where).limit(DUE_COUNT_CAP + 1).subquery())) or 0 for half in halves)

    past_count = capped(Document.due_date < today)
    near_count = capped(Document.due_date >= today)

    totals = {s: sum(per.get(s, 0) for per in counts.values()) for s in {s for per in counts.values() for s in per}}
    # Delivered, but the public copy never checked out after every re-check (核验失败): few rows, indexed.
    verify_failed = session.scalar(select(func.count()).select_from(Delivery).where(
        Delivery.status == DeliveryStatus.delivered, Delivery.verify_error != "", Delivery.verify_tries > 0)) or 0
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
            "past_due": min(past_count, DUE_COUNT_CAP),
            "near_due": min(near_count, DUE_COUNT_CAP),
            "past_due_text": _capped_text(past_count),
            "near_due_text": _capped_text(near_count),
            "link_problems": open_link_problems(session),  # 链接检查: open problems on the public pages
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
        # Deadline warnings per document and channel (orchestrator.notify.deadlines), the 50 most urgent.
        warnings = deadlines.due_items(s, deadlines.today_of(), limit=50)

    return render(request, "ops.html", ctx_of(request), title="投递监控", data=data, calendar_notice=schedule_notice(),
                  deadline_warnings=warnings)


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
                                      _error_key() == error)
            .order_by(Delivery.id).limit(BULK_LIMIT)
        ))
    done, refused = 0, []
    for did in ids:
        try:
            deliveries.retry_delivery(did, ctx.user.username)
            done += 1
        except ServiceError as exc:  # e.g. the document was withdrawn meanwhile: report, carry on with the rest
            refused.append(f"投递 {did}：{exc}")
    return JSONResponse({"retried": done, "refused": refused[:20], "matched": len(ids),
                         "message": f"已重新排队 {done} 条投递" + (f"，{len(refused)} 条未重试" if refused else "")})


# --- delivery log --------------------------------------------------------------------------------

LOG_PAGE = 50
TOTAL_CAP = 10_000  # the log counts its matches exactly up to here
EXPORT_LIMIT = 100_000
TIME_COLUMNS = (0, 1)  # 尝试开始, 尝试结束: real date-time cells in the Excel export
# Column widths in the Excel export (characters; a CJK character counts about two).
XLSX_WIDTHS = [20, 20, 26, 40, 30, 16, 14, 16, 8, 8, 12, 18, 50, 14, 10, 10]
LOG_COLUMNS = ["尝试开始", "尝试结束", "索引号", "标题", "目录事项", "责任科室", "渠道", "去向", "动作", "第几次",
               "结果", "错误类型", "信息", "投递当前状态", "投递编号", "文件编号"]


def _narrowed(f: dict[str, str]) -> Any:
    """The ids of the deliveries a selective filter admits, as a materialised CTE, or None.

    Written as plain joins, a filter on a rare delivery state plus an office makes PostgreSQL walk the attempts newest
    first and look up each one's delivery and document until 51 match (~15,000 look-ups at a million rows for
    未配置 × one office), and the total walks all matches of the join. Taking the few thousand deliveries in that state
    first (index on status), keeping those of the office, and then only their attempts costs a few thousand index
    probes whatever the size of the log. MATERIALIZED keeps the planner from folding it back into the join."""
    q = select(Delivery.id).where(Delivery.status == f["status"])
    if f["channel"]:
        q = q.where(Delivery.channel == f["channel"])
    if f["office"]:
        q = q.join(Document, Document.id == Delivery.document_id).where(Document.office == f["office"])
    return q.cte("narrowed").prefix_with("MATERIALIZED")


def _log_query(f: dict[str, str], *, count: bool = False, narrow: bool = False) -> Select:
    """The log's rows, newest first by the caller; ``count=True``: attempt ids only, joining just what the filters need
    (every attempt has a delivery, a document and a catalog entry, so the joins only matter for filtering).
    ``narrow``: the state filter is selective (see :func:`_narrowed`)."""
    if narrow:
        ids = _narrowed(f)
        q = select(DeliveryAttempt.id) if count else (
            select(DeliveryAttempt, Delivery, Document.index_no, Document.title, Document.office, CatalogEntryRow.code,
                   CatalogEntryRow.path_text)
            .join(Delivery, Delivery.id == DeliveryAttempt.delivery_id)
            .join(Document, Document.id == Delivery.document_id)
            .join(CatalogEntryRow, CatalogEntryRow.id == Document.entry_id))
        q = q.where(DeliveryAttempt.delivery_id.in_(select(ids.c.id)))
        if f["entry"] and count:  # the row query joins the catalog entry already
            q = (q.join(Delivery, Delivery.id == DeliveryAttempt.delivery_id)
                 .join(Document, Document.id == Delivery.document_id)
                 .join(CatalogEntryRow, CatalogEntryRow.id == Document.entry_id))
        return _log_filters(q, {**f, "channel": "", "status": "", "office": ""})
    if count:
        q = select(DeliveryAttempt.id)
        if f["channel"] or f["status"] or f["q"] or f["office"] or f["entry"]:
            q = q.join(Delivery, Delivery.id == DeliveryAttempt.delivery_id)
        if f["office"] or f["entry"]:
            q = q.join(Document, Document.id == Delivery.document_id)
        if f["entry"]:
            q = q.join(CatalogEntryRow, CatalogEntryRow.id == Document.entry_id)
    else:
        q = (select(DeliveryAttempt, Delivery, Document.index_no, Document.title, Document.office, CatalogEntryRow.code,
                    CatalogEntryRow.path_text)
             .join(Delivery, Delivery.id == DeliveryAttempt.delivery_id)
             .join(Document, Document.id == Delivery.document_id)
             .join(CatalogEntryRow, CatalogEntryRow.id == Document.entry_id))
    return _log_filters(q, f)


def _log_filters(q: Select, f: dict[str, str]) -> Select:
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
                if not inputs.date_in_range(dt.date.fromisoformat(f[key])):
                    raise ValueError
            except ValueError:
                errors.append(f"{name}格式不正确或超出范围（应为 YYYY-MM-DD，{inputs.DATE_MIN} 至 {inputs.DATE_MAX}）")
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
    """The offices documents name, in order: one index probe per office (ix_documents_office) instead of reading every
    document (a loose index scan, spelt as a recursive query because neither database does it by itself)."""
    found = session.execute(text(
        "WITH RECURSIVE o(office) AS (SELECT min(office) FROM documents"
        " UNION ALL SELECT (SELECT min(d.office) FROM documents d WHERE d.office > o.office) FROM o"
        " WHERE o.office IS NOT NULL)"
        " SELECT office FROM o WHERE office IS NOT NULL"))
    return [o for (o,) in found if o]


def _log_total(session: Session, f: dict[str, str]) -> tuple[str, int | None]:
    """What the log says about its size: exact up to ``TOTAL_CAP`` rows, else an estimate labelled 约, or a floor.

    Counting every matching attempt costs as much as reading them all (a second at a million); counting stops after
    ``TOTAL_CAP + 1``. Past that the unfiltered log shows the planner's row estimate of the attempts table (every
    attempt belongs to a delivery, a document and a catalog entry, so the join keeps them all), a filtered one
    "超过 10,000 条". Returns the phrase and the exact number when known.
    """
    narrow = _narrow(session, f)
    n = session.scalar(select(func.count()).select_from(
        _log_query(f, count=True, narrow=narrow).limit(TOTAL_CAP + 1).subquery())) or 0
    if n <= TOTAL_CAP:
        return f"共 {n:,} 条", n
    if not any(f.values()):
        estimate = 0
        if session.get_bind().dialect.name == "postgresql":
            estimate = int(session.scalar(text("SELECT reltuples FROM pg_class WHERE oid = 'delivery_attempts'::regclass"))
                           or 0)
        if estimate <= TOTAL_CAP:  # never analyzed, or SQLite: the newest id is close (attempts are rarely deleted)
            estimate = session.scalar(select(func.max(DeliveryAttempt.id))) or 0
        if estimate > TOTAL_CAP:
            return f"约 {_round_estimate(estimate):,} 条（估算）", None
    return f"超过 {TOTAL_CAP:,} 条", None


def _page_rows(session: Session, f: dict[str, str], limit: int, offset: int) -> list[Any]:
    """One page of the log, newest first. Narrowed (a selective state filter): the page's attempt ids come first from
    the matching deliveries' attempts (index only), then the rows for those ids alone, not for every match."""
    if not _narrow(session, f):
        q = _log_query(f).order_by(DeliveryAttempt.id.desc()).limit(limit).offset(offset)
        return list(session.execute(q).all())
    page_ids = (_log_query(f, count=True, narrow=True).order_by(DeliveryAttempt.id.desc()).limit(limit).offset(offset)
                .scalar_subquery())
    q = _log_query({k: "" for k in f}).where(DeliveryAttempt.id.in_(page_ids))
    return list(session.execute(q.order_by(DeliveryAttempt.id.desc())).all())


def narrow_limit(total: int) -> float:
    """The most deliveries a state filter may match for the log to start from them (see :func:`_narrow`)."""
    return 2 * math.sqrt(LOG_PAGE * max(total, 1))


def _narrow(session: Session, f: dict[str, str]) -> bool:
    """Whether to start from the deliveries in the filtered state (by the maintained counts: no counting here).

    Walking the attempts newest first costs about LOG_PAGE × total / m look-ups when m deliveries match; starting from
    the matching deliveries costs about m. The second wins when m < sqrt(LOG_PAGE × total); the state's count is an
    upper bound of m (an office filter keeps a part of it), hence the factor 2. At a million deliveries: up to ~14,000
    (未配置, about 1%, is narrowed; 失败, 4%, is not). A text search reads every message anyway: plain plan."""
    if not f["status"] or f["q"] or session.get_bind().dialect.name != "postgresql":
        return False
    counted = delivery_counts(session)
    n = sum(r.n for r in counted if r.status == f["status"] and (not f["channel"] or r.channel == f["channel"]))
    return n <= narrow_limit(sum(r.n for r in counted))


def _round_estimate(n: int) -> int:
    """Three significant figures: an estimate should not look exact."""
    digits = len(str(n)) - 3
    return round(n, -digits) if digits > 0 else n


@page("GET", "/log", (Role.ops,))
def delivery_log(request: Request, page_no: int = 1) -> Response:
    f, errors = _filters(request)
    page_no = max(1, min(page_no, 1_000_000))
    with session_scope() as s:
        interactive(s)
        found = _page_rows(s, f, LOG_PAGE + 1, (page_no - 1) * LOG_PAGE)
        rows = [_row(*r) for r in found[:LOG_PAGE]]
        total_text, total = _log_total(s, f) if found or page_no > 1 else ("共 0 条", 0)
        offices = _offices(s)
    query = urlencode({k: v for k, v in f.items() if v})
    pages = max(1, (total + LOG_PAGE - 1) // LOG_PAGE) if total is not None else None
    return render(request, "log.html", ctx_of(request), title="投递日志", rows=rows, total_text=total_text, f=f,
                  errors=errors, page_no=page_no, pages=pages, has_next=len(found) > LOG_PAGE, offices=offices,
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
