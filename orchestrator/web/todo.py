"""我的待办, 我的文件, notifications (站内通知, 我的通知设置), offices' notification addresses, event dates.

The navigation bar gets "我的待办 (n)" and "通知 (m)" from :func:`orchestrator.notify.todo.counts_for`: one statement
of COUNT subqueries per page view.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from fastapi import Form, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import exists, func, select, text, union, update
from sqlalchemy.orm import Session, aliased, selectinload

from orchestrator import access, audit
from orchestrator.auth import Principal, Role
from orchestrator.db import session_scope
from orchestrator.documents import event_service
from orchestrator.documents.inputs import ServiceError
from orchestrator.documents.state import document_states
from orchestrator.models import CatalogEntryRow, Delivery, Document, DocumentStatus, DocumentVersion, User, utcnow
from orchestrator.notify import KINDS, LEADER, LEADER_LABEL, WAYS, ways_for
from orchestrator.notify.addresses import AddressError, check_email, check_webhook
from orchestrator.notify.deadlines import today_of
from orchestrator.notify.models import Notification, NotifyOfficeAddress, NotifyPreference, NotifySend
from orchestrator.notify.todo import counts_for, items_for
from orchestrator.web.core import (
    ALL_ROLES,
    NAV_HOOKS,
    Ctx,
    WebError,
    _wants_json,
    client_ip,
    ctx_of,
    page,
    redirect,
    render,
)

PAGE_SIZE = 50
# A search with more matches than this reads its page by the plain filter (see ``mine``).
INDEXED_PAGE_MAX = 5000
CHANNEL_STATES = {"failed": "有投递失败", "waiting": "有渠道未完成", "manual": "有人工任务待确认", "done": "全部渠道已完成"}
WAITING = ("scheduled", "pending", "queued", "sending", "retrying", "awaiting_channel")
DONE = ("delivered", "verified")


# --- navigation ------------------------------------------------------------------------------------

def _nav_items(ctx: Ctx) -> list[tuple[str, str]]:
    with session_scope() as s:
        todo, unread = counts_for(s, ctx.user)
    return [("/todo", f"我的待办（{todo}）" if todo else "我的待办"), ("/mine", "我的文件"),
            ("/notifications", f"通知（{unread}）" if unread else "通知")]


NAV_HOOKS.append(_nav_items)


# --- 我的待办 -----------------------------------------------------------------------------------------

@page("GET", "/todo", ALL_ROLES)
def todo_page(request: Request) -> Response:
    ctx = ctx_of(request)
    today = today_of()
    with session_scope() as s:
        items = items_for(s, ctx.user, today)
    if _wants_json(request):
        return JSONResponse({"today": today.isoformat(), "items": [
            {"kind": i.kind, "kind_label": i.kind_label, "title": i.title, "link": i.link, "document_id": i.document_id,
             "index_no": i.index_no, "due_date": i.due_date.isoformat() if i.due_date else None, "detail": i.detail,
             "level": i.level} for i in items]})
    kinds: dict[str, int] = {}
    for i in items:
        kinds[i.kind_label.split("：")[0]] = kinds.get(i.kind_label.split("：")[0], 0) + 1
    return render(request, "todo.html", ctx, title="我的待办", items=items, today=today, kinds=kinds)


# --- 我的文件 -----------------------------------------------------------------------------------------

def _date(text: str, label: str, errors: list[str]) -> dt.date | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        d = dt.date.fromisoformat(text[:10]) if len(text) <= 10 else None
    except ValueError:
        d = None
    if d is None or not dt.date(1949, 10, 1) <= d <= dt.date(2100, 12, 31):
        errors.append(f"{label}“{text[:20]}”不是有效日期（格式 2026-12-01）")
        return None
    return d


def _mine_query(session: Session, user: Principal, f: dict[str, str], errors: list[str], *, indexed: bool = True):
    stmt = select(Document).where(access.document_filter(session, user))
    if f["scope"] != "all":
        stmt = stmt.where(Document.submitted_by == user.username)
    if f["status"]:
        if f["status"] in DocumentStatus.__members__:
            stmt = stmt.where(Document.status == f["status"])
        else:
            errors.append("文件状态不正确")
    if f["entry"]:
        if f["entry"].isdigit() and len(f["entry"]) < 10:
            stmt = stmt.where(Document.entry_id == int(f["entry"]))
        else:
            errors.append("目录事项不正确")
    d_from, d_to = _date(f["date_from"], "起始日期", errors), _date(f["date_to"], "截止日期", errors)
    if d_from:
        stmt = stmt.where(Document.formed_on >= d_from)
    if d_to:
        stmt = stmt.where(Document.formed_on <= d_to)
    if d_from and d_to and d_to < d_from:
        errors.append("截止日期早于起始日期")
    cs = f["channel_state"]
    if cs:
        has = lambda *st: exists().where(Delivery.document_id == Document.id, Delivery.status.in_(st))  # noqa: E731
        if cs == "failed":
            stmt = stmt.where(has("failed", "not_configured"))
        elif cs == "waiting":
            stmt = stmt.where(has(*WAITING, "awaiting_confirmation", "failed", "not_configured"))
        elif cs == "manual":
            stmt = stmt.where(has("awaiting_confirmation"))
        elif cs == "done":
            stmt = stmt.where(has(*DONE), ~exists().where(Delivery.document_id == Document.id, Delivery.action == "publish",
                                                          Delivery.status.not_in((*DONE, "cancelled", "removed"))))
        else:
            errors.append("渠道状态不正确")
    q = f["q"].strip()
    if q:
        stmt = stmt.where(_text_match(session, q, indexed=indexed))
    return stmt


def _text_match(session: Session, q: str, *, indexed: bool = True):
    """Title, 索引号 or the current version's 文号 contains ``q`` (case-insensitive; ``%``, ``_`` and ``\\`` are plain
    characters). On PostgreSQL each branch is first narrowed by the GIN index on the text's characters and character
    pairs (migration 0016: ``orch_grams``), which every match passes, so the rows are the same as the ILIKE alone
    (``indexed=False``: the ILIKE alone, which a page of a common word's many matches reads faster)."""
    like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    if not indexed or session.get_bind().dialect.name != "postgresql":
        number = exists().where(DocumentVersion.document_id == Document.id,
                                DocumentVersion.version == Document.current_version,
                                DocumentVersion.doc_number.ilike(like, escape="\\"))
        return Document.title.ilike(like, escape="\\") | Document.index_no.ilike(like, escape="\\") | number
    grams = func.orch_query_grams(q)
    doc = aliased(Document)

    def has(column):
        return func.orch_grams(column).op("@>")(grams) & column.ilike(like, escape="\\")

    ids = union(select(doc.id).where(has(doc.title)), select(doc.id).where(has(doc.index_no)),
                select(DocumentVersion.document_id).join(doc, (doc.id == DocumentVersion.document_id)
                                                         & (doc.current_version == DocumentVersion.version))
                .where(has(DocumentVersion.doc_number)))
    return Document.id.in_(ids)


@page("GET", "/mine", ALL_ROLES)
def mine(request: Request, page_no: int = 1) -> Response:
    ctx = ctx_of(request)
    qp = request.query_params
    f = {k: (qp.get(k) or "")[:100] for k in ("scope", "status", "entry", "date_from", "date_to", "channel_state", "q")}
    page_no = max(1, min(page_no, 100_000))
    errors: list[str] = []
    with session_scope() as s:
        stmt = _mine_query(s, ctx.user, f, errors)
        if errors:
            raise WebError(422, "；".join(errors))
        searching = bool(f["q"].strip()) and s.get_bind().dialect.name == "postgresql"
        if searching:
            # The planner would read a common word's matches by a sequential scan that computes every title's
            # character pairs again (several times the index's cost); the search's index is always the cheaper way.
            s.execute(text("SET LOCAL enable_seqscan = off"))
        total = s.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
        if searching and total > INDEXED_PAGE_MAX:
            # Many matches: the newest documents, tested one by one, fill a page sooner than the index lists them all.
            s.execute(text("SET LOCAL enable_seqscan = on"))
            stmt = _mine_query(s, ctx.user, f, errors, indexed=False)
        docs = list(s.scalars(stmt.options(selectinload(Document.entry)).order_by(Document.id.desc())
                              .limit(PAGE_SIZE).offset((page_no - 1) * PAGE_SIZE)))
        if searching:
            s.execute(text("SET LOCAL enable_seqscan = on"))
        numbers = dict(s.execute(select(DocumentVersion.document_id, DocumentVersion.doc_number).where(
            DocumentVersion.document_id.in_([d.id for d in docs] or [-1]),
            DocumentVersion.version == select(Document.current_version).where(Document.id == DocumentVersion.document_id)
            .scalar_subquery())).all())
        states = document_states(s, [(d.id, d.status) for d in docs])
        ids = access.visible_entry_ids(s, ctx.user)
        eq = select(CatalogEntryRow.id, CatalogEntryRow.path_text).where(CatalogEntryRow.active.is_(True))
        if ids is not None:
            eq = eq.where(CatalogEntryRow.id.in_(ids or [-1]))
        entries = s.execute(eq.order_by(CatalogEntryRow.path_text)).all()
        rows = [{"doc": d, "doc_number": numbers.get(d.id, ""), "state": states[d.id]} for d in docs]
        query = urlencode({k: v for k, v in f.items() if v})
        if _wants_json(request):
            return JSONResponse({"total": total, "documents": [
                {"id": r["doc"].id, "title": r["doc"].title, "index_no": r["doc"].index_no, "doc_number": r["doc_number"],
                 "status": r["doc"].status, "state": r["state"].state} for r in rows]})
        return render(request, "mine.html", ctx, title="我的文件", rows=rows, total=total, f=f, entries=entries,
                      channel_states=CHANNEL_STATES, page_no=page_no, query=query,
                      pages=max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE))


# --- notifications ---------------------------------------------------------------------------------

@page("GET", "/notifications", ALL_ROLES)
def notifications(request: Request) -> Response:
    ctx = ctx_of(request)
    with session_scope() as s:
        rows = list(s.scalars(select(Notification).where(Notification.user_id == ctx.user.id)
                              .order_by(Notification.id.desc()).limit(200)))
        s.expunge_all()
    return render(request, "notifications.html", ctx, title="通知", rows=rows, kinds=KINDS)


@page("POST", "/notifications/read", ALL_ROLES)
def notifications_read(request: Request) -> Response:
    ctx = ctx_of(request)
    with session_scope() as s:
        n = s.execute(update(Notification).where(Notification.user_id == ctx.user.id, Notification.read_at.is_(None))
                      .values(read_at=utcnow())).rowcount
    return redirect("/notifications", f"已将 {n} 条通知标为已读")


def _pref_view(pref: NotifyPreference | None) -> dict[str, Any]:
    return {"email": pref.email if pref else "", "webhook_url": pref.webhook_url if pref else "",
            "ways": {k: ways_for(pref, k) for k in KINDS}}


@page("GET", "/settings/notifications", ALL_ROLES)
def notify_settings(request: Request) -> Response:
    ctx = ctx_of(request)
    with session_scope() as s:
        view = _pref_view(s.get(NotifyPreference, ctx.user.id))
        sends = list(s.scalars(select(NotifySend).where(NotifySend.target == f"user:{ctx.user.id}")
                               .order_by(NotifySend.id.desc()).limit(20)))
        s.expunge_all()
    return render(request, "notify_settings.html", ctx, title="我的通知设置", pref=view, kinds=KINDS, ways=WAYS, sends=sends)


@page("POST", "/settings/notifications", ALL_ROLES)
async def notify_settings_save(request: Request) -> Response:
    ctx = ctx_of(request)
    form = await request.form()
    errors: list[str] = []
    raw_email, raw_hook = str(form.get("email") or ""), str(form.get("webhook_url") or "")
    email = hook = ""
    try:
        email = check_email(raw_email)
    except AddressError as exc:
        errors.append(f"电子邮箱：{exc}")
    try:
        hook = check_webhook(raw_hook)
    except AddressError as exc:
        errors.append(f"Webhook：{exc}")
    kinds = {k: sorted(w for w in WAYS if form.get(f"{k}:{w}") == "1") for k in KINDS}
    for k, ways in kinds.items():
        if "email" in ways and not email and not errors:
            errors.append(f"“{KINDS[k]}”选择了电子邮件，请先填写电子邮箱")
        if "webhook" in ways and not hook and not errors:
            errors.append(f"“{KINDS[k]}”选择了 Webhook，请先填写 Webhook 地址")
    if errors:
        view = {"email": raw_email[:300], "webhook_url": raw_hook[:600], "ways": {k: set(v) for k, v in kinds.items()}}
        return render(request, "notify_settings.html", ctx, status_code=422, title="我的通知设置", pref=view, kinds=KINDS,
                      ways=WAYS, sends=[], errors=errors)
    with session_scope() as s:
        pref = s.get(NotifyPreference, ctx.user.id) or NotifyPreference(user_id=ctx.user.id)
        pref.email, pref.webhook_url, pref.kinds, pref.updated_at = email, hook, kinds, utcnow()
        s.add(pref)
    return redirect("/settings/notifications", "通知设置已保存")


# --- offices' addresses (admin) --------------------------------------------------------------------

def _offices(session: Session) -> list[str]:
    names: set[str] = set()
    for (offices,) in session.execute(select(CatalogEntryRow.offices).where(CatalogEntryRow.active.is_(True))):
        names.update(o for o in offices or [] if o)
    names.update(o for (o,) in session.execute(select(User.office).where(User.office != "")))
    names.update(session.scalars(select(NotifyOfficeAddress.office)))
    names.discard(LEADER)
    return sorted(names)


@page("GET", "/notify/offices", (Role.admin,))
def office_addresses(request: Request) -> Response:
    ctx = ctx_of(request)
    with session_scope() as s:
        rows = {r.office: r for r in s.scalars(select(NotifyOfficeAddress))}
        offices = [LEADER, *_offices(s)]
        view = [{"office": o, "label": LEADER_LABEL if o == LEADER else o,
                 "email": rows[o].email if o in rows else "", "webhook_url": rows[o].webhook_url if o in rows else "",
                 "updated_by": rows[o].updated_by if o in rows else ""} for o in offices]
    return render(request, "notify_offices.html", ctx, title="科室通知地址", rows=view)


@page("POST", "/notify/offices", (Role.admin,))
def office_address_save(request: Request, office: str = Form("", max_length=200), email: str = Form("", max_length=1000),
                        webhook_url: str = Form("", max_length=2000)) -> Response:
    ctx = ctx_of(request)
    office = office.strip()
    if not office:
        return redirect("/notify/offices", "未保存：请填写科室名称", "err")
    try:
        email_ok, hook_ok = check_email(email), check_webhook(webhook_url)
    except AddressError as exc:
        return redirect("/notify/offices", f"未保存（{LEADER_LABEL if office == LEADER else office}）：{exc}", "err")
    with session_scope() as s:
        row = s.get(NotifyOfficeAddress, office) or NotifyOfficeAddress(office=office)
        before = {"email": row.email or "", "webhook_url": row.webhook_url or ""}
        row.email, row.webhook_url, row.updated_by, row.updated_at = email_ok, hook_ok, ctx.user.username, utcnow()
        s.add(row)
        audit.record(s, ctx.user.username, "notify.office_address", LEADER_LABEL if office == LEADER else office,
                     {"before": before, "after": {"email": email_ok, "webhook_url": hook_ok}}, ip=client_ip(request))
    return redirect("/notify/offices", f"已保存{LEADER_LABEL if office == LEADER else office}的通知地址")


# --- event date -------------------------------------------------------------------------------------

@page("POST", "/documents/{document_id}/event-date", (Role.clerk,))
def event_date(request: Request, document_id: int, event_date: str = Form("", max_length=40)) -> Response:
    ctx = ctx_of(request)
    try:
        res = event_service.enter_event_date(document_id, event_date, ctx.user)
    except ServiceError as exc:
        if exc.status == 404:
            raise WebError(404, str(exc)) from exc
        if _wants_json(request):
            return JSONResponse({"errors": [{"field": e.field, "message": e.message} for e in exc.errors]},
                                status_code=exc.status)
        return redirect(f"/documents/{document_id}", f"未保存：{exc}", "err")
    if _wants_json(request):
        return JSONResponse(res)
    return redirect(f"/documents/{document_id}", f"已填写事件日期 {res['event_date']}，截止日期为 {res['due_date'] or '（无法自动计算）'}")
