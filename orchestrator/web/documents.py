"""Submit once, the document page and its actions, the document list and the review queue.

Office rule (the same as the REST API's): a clerk sees and acts on documents only for catalog entries whose
responsible offices include the clerk's office; reviewers, ops and admins are not limited by office.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from fastapi import File, Form, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from channels.registry import ChannelRegistry
from orchestrator import access
from orchestrator.api import routes
from orchestrator.auth import Principal, Role
from orchestrator.calendar import CalendarError, add_working_days
from orchestrator.checks import gate as content_gate
from orchestrator.db import session_scope
from orchestrator.docimport.staging import staged_uploads
from orchestrator.documents import deliveries, events, inputs, review, submission, versions
from orchestrator.documents.attachments import blob_path
from orchestrator.documents.content import find_personal_data, render_body
from orchestrator.documents.deliveries import RETRYABLE, STATUS_LABELS
from orchestrator.documents.inputs import ServiceError
from orchestrator.documents.state import document_states, state_of_document
from orchestrator.models import (
    DONE_STATUSES,
    Attachment,
    CatalogEntryRow,
    Delivery,
    Document,
    DocumentStatus,
    DocumentVersion,
    DueDateChange,
    Publisher,
)
from orchestrator.settings import get_settings
from orchestrator.web import review_chain
from orchestrator.web.core import (
    ALL_ROLES,
    TZ,
    WebError,
    _wants_json,
    channel_label,
    ctx_of,
    fmt_time,
    page,
    redirect,
    render,
)
from orchestrator.web.docimport import (
    attachment_urls_to_names,
    body_with_attachment_urls,
    form_schedule_fields,
    localise_body,
)

MAX_FILES = 20


# --- visibility ----------------------------------------------------------------------------------

def _doc_or_404(session: Session, document_id: int, user: Principal) -> Document:
    doc = access.readable_document(
        session, user, document_id,
        selectinload(Document.versions).selectinload(DocumentVersion.attachments),
        selectinload(Document.deliveries).selectinload(Delivery.attempts_log),
        selectinload(Document.deliveries).selectinload(Delivery.transitions),
        selectinload(Document.entry), selectinload(Document.publisher),
    )
    # Another office's document answers exactly like a missing one: a clerk learns nothing about it.
    if doc is None:
        raise WebError(404, f"文件 {document_id} 不存在，或不属于您所在科室")
    return doc


def _check_doc_office(document_id: int, user: Principal) -> None:
    with session_scope() as s:
        if not access.may_read(s, user, document_id):
            raise WebError(404, f"文件 {document_id} 不存在，或不属于您所在科室")


# --- catalog entries for the submit form ---------------------------------------------------------

def _destinations() -> dict[str, list[str]]:
    registry = ChannelRegistry.load(get_settings().channels_path)
    return {code: [d.name for d in dests if d.enabled] for code, dests in registry.channels.items()}


def entry_json(e: CatalogEntryRow, dests: dict[str, list[str]]) -> dict[str, Any]:
    return {
        "code": e.code, "publisher": e.publisher.name, "path": list(e.path), "path_text": e.path_text,
        "content": e.content, "time_limit": (e.time_limit or {}).get("text", ""), "offices": list(e.offices or []),
        "channels": [{"code": c, "label": channel_label(c), "configured": bool(dests.get(c))} for c in e.channels or []],
        "review": e.needs_review, "warnings": list(e.warnings or []),
    }


def entries_for(user: Principal) -> list[dict[str, Any]]:
    dests = _destinations()
    with session_scope() as s:
        rows = s.scalars(select(CatalogEntryRow).join(Publisher).where(CatalogEntryRow.active.is_(True))
                         .options(selectinload(CatalogEntryRow.publisher)).order_by(Publisher.name, CatalogEntryRow.id))
        return [entry_json(e, dests) for e in rows if user.may_submit_for(list(e.offices or []))]


def _entry_for(user: Principal, code: str, publisher: str | None) -> CatalogEntryRow:
    with session_scope() as s:
        try:
            entry = submission.find_entry(s, code, publisher or None)
        except ServiceError as exc:
            raise WebError(422, str(exc)) from exc
        if not user.may_submit_for(list(entry.offices or [])):
            offices = "、".join(entry.offices or []) or "（未指定）"
            raise WebError(403, f"您所在科室（{user.office or '未设置'}）不是该目录事项的责任科室（{offices}），不能为其登记文件")
        s.expunge(entry)
        return entry


@page("GET", "/submit", (Role.clerk,))
def submit_form(request: Request) -> Response:
    ctx = ctx_of(request)
    settings = get_settings()
    return render(request, "submit.html", ctx, title="登记文件", entries=entries_for(ctx.user),
                  today=dt.datetime.now(TZ).date().isoformat(), max_bytes=settings.max_attachment_bytes,
                  allowed=settings.allowed_attachment_types, max_files=MAX_FILES)


@page("GET", "/submit/due.json", (Role.clerk,))
def due_preview(request: Request, entry: str, formed_on: dt.date, publisher: str = "") -> JSONResponse:
    """What the clerk is about to commit to: the due date and every channel (and destination) it will reach."""
    ctx = ctx_of(request)
    if not inputs.date_in_range(formed_on):
        raise WebError(422, f"生成日期超出可受理的范围（{inputs.DATE_MIN} 至 {inputs.DATE_MAX}）")
    row = _entry_for(ctx.user, entry, publisher)
    future = inputs.formed_on_in_future(formed_on)
    if future:
        raise WebError(422, future)
    due, note, provisional = submission.compute_due_info(row, formed_on)
    dests = _destinations()
    channels = [{"code": c, "label": channel_label(c), "destinations": dests.get(c, []),
                 "configured": bool(dests.get(c))} for c in row.channels or []]
    return JSONResponse({"entry": row.code, "path_text": row.path_text, "due_date": due.isoformat() if due else None,
                         "due_date_provisional": provisional, "explanation": note, "channels": channels, "review": row.needs_review})


@page("POST", "/submit/preview", (Role.clerk,))
def body_preview(request: Request, body: str = Form("", max_length=2_000_000), body_format: str = Form("markdown"),
                 title: str = Form("")) -> JSONResponse:
    """Server-side rendering with the exact sanitiser used at submission, so the preview is what gets published;
    the content checks' hits on the title and body as typed."""
    if body_format not in ("markdown", "html"):
        raise WebError(422, "正文格式应为 markdown 或 html")
    html = render_body(body, body_format)
    hits = find_personal_data(html)
    content = [h.as_dict() for h in content_gate.preview(title, body, body_format)]
    return JSONResponse({"html": html, "personal_data": [f"{h.label} {h.masked}" for h in hits], "content_hits": content})


def _uploads(files: list[UploadFile] | None) -> list[inputs.Upload]:
    ups = [inputs.Upload(f.filename or "", f.file) for f in (files or []) if f.filename]
    if len(ups) > MAX_FILES:
        raise WebError(413, f"附件过多（每次最多 {MAX_FILES} 个）")
    return ups


def _check_length(request: Request) -> None:
    length = request.headers.get("content-length", "")
    limit = routes.multipart_limit(get_settings())
    if length.isdigit() and int(length) > limit:
        raise WebError(413, f"提交内容过大（上限 {limit // (1024 * 1024)} MB），未保存任何内容")


def _refusal(request: Request, exc: ServiceError, body: str, body_format: str, form: dict[str, Any],
             template: str, **extra: Any) -> Response:
    errors = [{"field": e.field, "message": e.message} for e in exc.errors]
    try:
        personal = [f"{h.label} {h.masked}" for h in find_personal_data(render_body(body, body_format))] if body else []
    except ValueError:
        personal = []
    content = [h.as_dict() for h in content_gate.preview(str(form.get("title") or ""), body, body_format)]
    if _wants_json(request):
        return JSONResponse({"errors": errors, "personal_data": personal, "content_hits": content}, status_code=exc.status)
    return render(request, template, ctx_of(request), status_code=exc.status, errors=errors, personal_data=personal,
                  content_hits=content, form=form, **extra)


@page("POST", "/submit", (Role.clerk,))
def submit(
    request: Request,
    entry: str = Form("", max_length=400),
    publisher: str = Form("", max_length=200),
    title: str = Form(""),
    body: str = Form("", max_length=2_000_000),
    body_format: str = Form("markdown"),
    doc_number: str = Form("", max_length=200),
    formed_on: str = Form("", max_length=20),
    event_date: str = Form("", max_length=20),
    confirm_personal_data: bool = Form(False),
    confirm_content_warnings: bool = Form(False),
    wechat_title: str = Form("", max_length=200),
    files: list[UploadFile] | None = File(None),
    publish_at: str = Form("", max_length=40),
    display_from: str = Form("", max_length=40),
    display_until: str = Form("", max_length=40),
    related_document_id: str = Form("", max_length=20),
    related_kind: str = Form("", max_length=10),
    summary: str = Form("", max_length=2000),
    validity: str = Form("有效", max_length=20),
    validity_date: str = Form("", max_length=20),
    subject_words: str = Form("", max_length=400),
    staged: list[str] = Form([]),
) -> Response:
    ctx = ctx_of(request)
    _check_length(request)
    form = {"entry": entry, "publisher": publisher, "title": title, "body": body, "body_format": body_format,
            "doc_number": doc_number, "formed_on": formed_on, "wechat_title": wechat_title, "event_date": event_date}
    extra_fields = {"publish_at": publish_at, "display_from": display_from, "display_until": display_until,
                    "related_document_id": related_document_id, "related_kind": related_kind, "summary": summary, "validity": validity,
                    "validity_date": validity_date, "subject_words": subject_words, "staged": list(staged)}
    settings = get_settings()
    page_extra = {"title": "登记文件", "entries": entries_for(ctx.user), "today": dt.datetime.now(TZ).date().isoformat(),
                  "max_bytes": settings.max_attachment_bytes, "allowed": settings.allowed_attachment_types,
                  "max_files": MAX_FILES}
    try:
        if not entry.strip():
            raise ServiceError([inputs.FieldError("目录事项", "请先在左侧目录中选择事项")])
        data = {**{k: v for k, v in form.items() if k not in ("wechat_title", "event_date")},
                "confirm_personal_data": confirm_personal_data,
                "confirm_content_warnings": confirm_content_warnings,
                "submitted_by": ctx.user.username, "publisher": publisher or None}
        if wechat_title.strip():  # WeChat limits titles to 32 characters; a short title for that channel only
            data["channel_options"] = {"wechat": {"title": wechat_title.strip()}}
        data.update(form_schedule_fields(extra_fields))
        if event_date.strip():  # 事件日期: only entries counted from an event use it
            data["event_date"] = event_date.strip()
        refs = list(staged)
        if body_format == "html":  # the editor's images: staged URLs become attachment file names
            data["body"], body_refs = localise_body(data["body"])
            refs += body_refs
        req = inputs.parse_submit(data)
        _entry_for(ctx.user, req.entry, req.publisher)
        staged_ups = staged_uploads(settings, refs)
        try:
            res = submission.submit(req, _uploads(files) + staged_ups, settings=settings, reader=ctx.user)
        finally:
            for up in staged_ups:
                up.stream.close()
    except ServiceError as exc:
        form.update(extra_fields)
        return _refusal(request, exc, body, body_format, form, "submit.html", **page_extra)
    msg = f"已登记，索引号 {res.index_no}" + ("；" + "；".join(res.warnings) if res.warnings else "")
    url = f"/documents/{res.document_id}"
    if _wants_json(request):
        resp = JSONResponse({"document_id": res.document_id, "index_no": res.index_no, "redirect": url,
                             "warnings": res.warnings}, status_code=201)
        flash = redirect(url, msg)  # carry the flash cookie on the JSON response as well
        for k, v in flash.headers.items():
            if k.lower() == "set-cookie":
                resp.headers.append("set-cookie", v)
        return resp
    return redirect(url, msg)


# --- the document page ---------------------------------------------------------------------------

def _as_local_date(v: dt.datetime | None) -> dt.date | None:
    if v is None:
        return None
    if v.tzinfo is None:
        v = v.replace(tzinfo=dt.UTC)
    return v.astimezone(TZ).date()


def due_state(due: dt.date | None, delivered_at: dt.datetime | None, status: str, today: dt.date) -> tuple[str, str]:
    """Whether one channel met the document's due date: (css class, Chinese text)."""
    if due is None:
        return "", "无法自动计算"
    done = _as_local_date(delivered_at)
    if status in DONE_STATUSES and done is not None:
        return ("due-ok", "按期") if done <= due else ("due-late", f"逾期 {(done - due).days} 天")
    if status == "cancelled":
        return "", "已取消"
    if today > due:
        return "due-late", "已逾期未送达"
    return "", "未到期"


def _receipt_links(receipt: dict[str, Any] | None) -> list[tuple[str, str]]:
    """Links worth clicking from a receipt; only http(s), so a channel's data can never inject ``javascript:``."""
    names = {"url": "查看", "page_url": "页面", "feed_url": "订阅源条目", "entry_url": "订阅源条目", "article_url": "微信文章",
             "screen_url": "电子屏页面", "preview_url": "预览", "live_url": "在线页面", "admin_url": "后台页面", "bundle_url": "导出包",
             "list_url": "栏目列表", "issue_url": "公报期刊", "feeds": "订阅源", "screens": "电子屏", "old_article_url": "原文章"}
    feed_kinds = {"/feeds/all/": "订阅源（全部）", "/feeds/entry/": "订阅源（本事项）", "/feeds/publisher/": "订阅源（本机构）"}
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    receipt = receipt or {}

    def add(label: str, value: Any) -> None:
        if label == "订阅源" and isinstance(value, str):
            label = next((name for part, name in feed_kinds.items() if part in value), label)
        if isinstance(value, str) and value.startswith(("http://", "https://")) and value not in seen and len(out) < 8:
            seen.add(value)
            out.append((label, value))

    add("查看", receipt.get("url"))
    data = receipt.get("data") or {}
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, str):
                add(names.get(key, "相关链接"), value)
            elif isinstance(value, list):
                for v in value[:4]:
                    add(names.get(key, "相关链接"), v if isinstance(v, str) else (v or {}).get("url") if isinstance(v, dict) else None)
    return out


def _delivery_links(d: Delivery) -> list[tuple[str, str]]:
    """Receipt links, led by the task page when a person has work to do on this delivery."""
    links = _receipt_links(d.receipt)
    data = (d.receipt or {}).get("data") or {}
    if d.status == "awaiting_confirmation" or (isinstance(data, dict) and data.get("article_html")):
        links.insert(0, ("任务与材料", f"/deliveries/{d.id}/task"))
    return links


OPERATION_LABELS = {"publish": "发布", "update": "更新", "withdraw": "撤回", "poll": "查询渠道结果", "verify": "核验上线",
                    "": "发送"}


SYSTEM_ACTORS = {"sweeper": "系统巡检", "recheck": "定期复查"}
_WORKER_ID = re.compile(r"^[\w.-]+:(\d+)$")  # engine.worker_id(): host:pid


def actor_label(actor: str) -> str:
    """Who did it, in words: a person's user name as is; the beat sweeper and a worker process (host:pid) in Chinese."""
    if actor in SYSTEM_ACTORS:
        return SYSTEM_ACTORS[actor]
    m = _WORKER_ID.match(actor or "")
    return f"工作进程 {m.group(1)}" if m else actor


def _timeline(d: Delivery) -> list[dict[str, Any]]:
    items = [{"at": t.at, "kind": "transition", "text": f"{STATUS_LABELS.get(t.from_status, t.from_status) or '创建'} → "
              f"{STATUS_LABELS.get(t.to_status, t.to_status)}", "reason": t.reason, "actor": actor_label(t.actor)}
             for t in d.transitions]
    items += [{"at": a.started_at, "kind": "attempt",
               "text": f"第 {a.number} 次尝试（{OPERATION_LABELS.get(a.operation, a.operation) or '发送'}）",
               "outcome": a.outcome, "reason": a.message, "actor": actor_label(a.worker)} for a in d.attempts_log]
    return sorted(items, key=lambda i: (i["at"].replace(tzinfo=dt.UTC) if i["at"].tzinfo is None else i["at"]))


def document_view(doc: Document) -> dict[str, Any]:
    today = dt.datetime.now(TZ).date()
    rows = []
    for d in doc.deliveries:
        cls, text = due_state(doc.due_date, d.confirmed_at or d.delivered_at, d.status, today) if d.action == "publish" else ("", "—")
        rows.append({"d": d, "label": channel_label(d.channel), "links": _delivery_links(d), "due_cls": cls,
                     "due_text": text, "timeline": _timeline(d), "retryable": d.status in RETRYABLE
                     and not (doc.status == DocumentStatus.withdrawn and d.action != "withdraw"),
                     "cancellable": d.status in {"scheduled", "pending", "queued", "retrying", "awaiting_channel",
                                                 "awaiting_confirmation", "failed", "not_configured"},
                     "confirmable": d.status == "awaiting_confirmation"})
    version = doc.versions[-1]
    return {"doc": doc, "version": version, "rows": rows, "today": today, "state": state_of_document(doc),
            "body_view": body_with_attachment_urls(version.body_html, doc.id, version.attachments)}


@page("GET", "/documents/{document_id}", ALL_ROLES)
def document_page(request: Request, document_id: int) -> Response:
    ctx = ctx_of(request)
    with session_scope() as s:
        doc = _doc_or_404(s, document_id, ctx.user)
        view = document_view(doc)
        due_changes = list(s.scalars(select(DueDateChange).where(DueDateChange.document_id == doc.id)
                                     .order_by(DueDateChange.id)))
        return render(request, "document.html", ctx, title=doc.title, due_changes=due_changes,
                      relations=_relations(s, doc, ctx.user), event=events.view(s, doc),
                      review=review_chain.review_view(s, doc, ctx.user), **view)


def _relations(s: Session, doc: Document, user: Principal) -> list[dict[str, Any]]:
    """关联文件 in both directions (政策解读 ↔ 政策文件), only those the user may read."""
    out: list[dict[str, Any]] = []
    if doc.related_document_id and access.may_read(s, user, doc.related_document_id):
        other = s.get(Document, doc.related_document_id)
        label = "相关文件" if doc.related_kind == "相关" else "解读的政策文件"
        out.append({"label": label, "id": other.id, "title": other.title})
    rows = s.execute(select(Document.id, Document.title, Document.related_kind)
                     .where(Document.related_document_id == doc.id, access.document_filter(s, user))
                     .order_by(Document.id)).all()
    for r in rows:
        out.append({"label": "相关文件" if r.related_kind == "相关" else "政策解读", "id": r.id, "title": r.title})
    return out


@page("GET", "/documents/{document_id}/status.json", ALL_ROLES)
def document_status(request: Request, document_id: int) -> JSONResponse:
    """What the document page polls: each delivery's state, so rows change colour without a reload."""
    ctx = ctx_of(request)
    with session_scope() as s:
        doc = _doc_or_404(s, document_id, ctx.user)
        today = dt.datetime.now(TZ).date()
        out = []
        for d in doc.deliveries:
            cls, text = due_state(doc.due_date, d.confirmed_at or d.delivered_at, d.status, today) if d.action == "publish" else ("", "—")
            out.append({"id": d.id, "status": d.status, "label": STATUS_LABELS.get(d.status, d.status),
                        "attempts": d.attempts, "max_attempts": d.max_attempts, "last_error": d.last_error[:300],
                        "due_cls": cls, "due_text": text, "links": _delivery_links(d),
                        "delivered_at": fmt_time(d.confirmed_at or d.delivered_at)})
        state = state_of_document(doc)
        return JSONResponse({"document_status": doc.status, "document_state": state.state,
                             "document_state_label": state.label, "document_state_badge": state.badge,
                             "deliveries": out})


@page("GET", "/documents/{document_id}/attachments/{attachment_id}", ALL_ROLES)
def attachment_download(request: Request, document_id: int, attachment_id: int) -> Response:
    ctx = ctx_of(request)
    with session_scope() as s:
        doc = _doc_or_404(s, document_id, ctx.user)
        att = s.get(Attachment, attachment_id)
        if att is None or att.version.document_id != doc.id:
            raise WebError(404, "附件不存在")
        path = blob_path(get_settings(), att.sha256)
        if not path.is_file():
            raise WebError(404, "附件文件已丢失，请联系运维人员")
        # The stored name is display-only (cleaned at upload); the bytes come from the content-addressed path.
        return FileResponse(path, media_type=att.content_type, filename=att.filename,
                            headers={"X-Content-Type-Options": "nosniff"})


@page("POST", "/documents/{document_id}/versions", (Role.clerk,))
def new_version(
    request: Request, document_id: int,
    title: str = Form(""), body: str = Form("", max_length=2_000_000), body_format: str = Form("markdown"),
    doc_number: str = Form("", max_length=200), change_note: str = Form("", max_length=1000),
    keep_attachments: bool = Form(False), confirm_personal_data: bool = Form(False),
    confirm_content_warnings: bool = Form(False), wechat_title: str = Form("", max_length=200), files: list[UploadFile] | None = File(None),
) -> Response:
    ctx = ctx_of(request)
    _check_length(request)
    _check_doc_office(document_id, ctx.user)
    data: dict[str, Any] = {"title": title or None, "body": body or None, "body_format": body_format,
                            "doc_number": doc_number, "change_note": change_note, "keep_attachments": keep_attachments,
                            "confirm_personal_data": confirm_personal_data, "submitted_by": ctx.user.username,
                            "confirm_content_warnings": confirm_content_warnings}
    if wechat_title.strip():
        data["channel_options"] = {"wechat": {"title": wechat_title.strip()}}
    extra: list[inputs.Upload] = []
    try:
        if body_format == "html" and body:
            # The editor's images: newly inserted ones are staged uploads, the version's own are shown from their
            # attachment URLs; both become attachment file names in the stored body (as on the submit page).
            data["body"], refs = localise_body(body)
            data["body"], shown = _version_images(document_id, data["body"])
            extra = staged_uploads(get_settings(), refs)
            if not keep_attachments:  # a body image stays even when the other attachments are dropped
                extra += [inputs.Upload(a.filename, blob_path(get_settings(), a.sha256).open("rb"))
                          for a in shown]
        res = versions.new_version(document_id, inputs.parse_version(data), _uploads(files) + extra)
    except ServiceError as exc:
        if _wants_json(request):
            return _refusal(request, exc, body, body_format, {}, "")
        return redirect(f"/documents/{document_id}", f"更正未保存：{exc}", "err")
    finally:
        for up in extra:
            up.stream.close()
    return redirect(f"/documents/{document_id}", f"已登记第 {_current_version(document_id)} 版，"
                    f"新增 {len(res.delivery_ids)} 条投递" + "".join(f"；{w}" for w in res.warnings))


def _version_images(document_id: int, body: str) -> tuple[str, list]:
    with session_scope() as s:
        doc = s.get(Document, document_id)
        attachments = list(doc.versions[-1].attachments) if doc is not None and doc.versions else []
        body, shown = attachment_urls_to_names(body, document_id, attachments)
        for a in shown:
            s.expunge(a)
        return body, shown


def _current_version(document_id: int) -> int:
    with session_scope() as s:
        return s.scalar(select(Document.current_version).where(Document.id == document_id)) or 0


@page("POST", "/documents/{document_id}/withdraw", (Role.clerk,))
def withdraw(request: Request, document_id: int, reason: str = Form("", max_length=2000)) -> Response:
    ctx = ctx_of(request)
    _check_doc_office(document_id, ctx.user)
    try:
        res = versions.withdraw(document_id, reason, ctx.user.username)
    except ServiceError as exc:
        return redirect(f"/documents/{document_id}", f"未撤回：{exc}", "err")
    return redirect(f"/documents/{document_id}", f"已撤回；向 {len(res.delivery_ids)} 个已发布渠道发出撤回")


@page("POST", "/documents/{document_id}/approve", (Role.reviewer,))
def approve(request: Request, document_id: int) -> Response:
    ctx = ctx_of(request)
    try:
        ids = review.approve(document_id, ctx.user.username, principal=ctx.user)  # the chain's rule applies
    except ServiceError as exc:
        return redirect(f"/documents/{document_id}", f"未执行：{exc}", "err")
    if not ids and _current_status(document_id) == DocumentStatus.pending_review:
        return redirect(f"/documents/{document_id}", "已通过本步骤，转入下一审核步骤")
    return redirect(f"/documents/{document_id}", f"保密审查已通过，开始向 {len(ids)} 个渠道发布")


def _current_status(document_id: int) -> str:
    with session_scope() as s:
        return s.scalar(select(Document.status).where(Document.id == document_id)) or ""


@page("POST", "/documents/{document_id}/reject", (Role.reviewer,))
def reject(request: Request, document_id: int, reason: str = Form("", max_length=2000)) -> Response:
    ctx = ctx_of(request)
    if not reason.strip():
        return redirect(f"/documents/{document_id}", "请填写审查不通过的原因", "err")
    try:
        review.reject(document_id, ctx.user.name, reason.strip(), principal=ctx.user)
    except ServiceError as exc:
        return redirect(f"/documents/{document_id}", f"未执行：{exc}", "err")
    return redirect(f"/documents/{document_id}", "已退回：保密审查不通过")


# --- delivery actions (ops) ----------------------------------------------------------------------

def _delivery_doc(delivery_id: int) -> int:
    with session_scope() as s:
        doc_id = s.scalar(select(Delivery.document_id).where(Delivery.id == delivery_id))
        if doc_id is None:
            raise WebError(404, f"投递 {delivery_id} 不存在")
        return doc_id


def _back(request: Request, fallback: str) -> str:
    """Return to the page the action came from (dashboard, log or document), never to another site."""
    ref = request.headers.get("referer", "")
    base = str(request.base_url)
    if ref.startswith(base):
        return "/" + ref[len(base):]
    return fallback


@page("POST", "/deliveries/{delivery_id}/retry", (Role.ops,))
def retry(request: Request, delivery_id: int) -> Response:
    ctx = ctx_of(request)
    doc_id = _delivery_doc(delivery_id)
    try:
        deliveries.retry_delivery(delivery_id, ctx.user.username)
    except ServiceError as exc:
        return redirect(_back(request, f"/documents/{doc_id}"), f"未重试：{exc}", "err")
    return redirect(_back(request, f"/documents/{doc_id}"), f"投递 {delivery_id} 已重新排队")


@page("POST", "/deliveries/{delivery_id}/cancel", (Role.ops,))
def cancel(request: Request, delivery_id: int, reason: str = Form("", max_length=2000)) -> Response:
    ctx = ctx_of(request)
    doc_id = _delivery_doc(delivery_id)
    try:
        deliveries.cancel_delivery(delivery_id, ctx.user.username, reason.strip())
    except ServiceError as exc:
        return redirect(_back(request, f"/documents/{doc_id}"), f"未取消：{exc}", "err")
    return redirect(_back(request, f"/documents/{doc_id}"), f"投递 {delivery_id} 已取消")


def _typed_when(text: str) -> str | None:
    """The 完成时间 as typed ("2026-12-01 14:30", "2026/12/1 14:30", "2026-12-01T14:30:00+08:00") in ISO form;
    "" when left empty, None when it is not a time."""
    text = text.strip().replace("：", ":").replace("/", "-")
    if not text:
        return ""
    m = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?", text)
    if m:
        y, mo, d, h, mi, sec = (int(g) if g else 0 for g in m.groups())
        try:
            return dt.datetime(y, mo, d, h, mi, sec).isoformat()
        except ValueError:
            return None
    try:
        return dt.datetime.fromisoformat(text).isoformat()
    except ValueError:
        return None


@page("POST", "/deliveries/{delivery_id}/confirm", (Role.ops,))
def confirm(
    request: Request, delivery_id: int,
    by: str = Form("", max_length=100), when: str = Form("", max_length=40), note: str = Form("", max_length=2000),
    url: str = Form("", max_length=2000), evidence: UploadFile | None = File(None),
) -> Response:
    ctx = ctx_of(request)
    doc_id = _delivery_doc(delivery_id)
    back = f"/documents/{doc_id}"
    when = _typed_when(when)
    if when is None:
        return redirect(back, "未确认：完成时间格式不正确，请按“2026-12-01 14:30”填写（北京时间）", "err")
    try:
        # The REST API's checks (URL scheme, time format, lengths) apply unchanged.
        who, note_, url_, when_ = routes.confirm_fields({"by": by, "note": note, "url": url, "when": when or None})
    except routes.HTTPException as exc:
        detail = exc.detail if isinstance(exc.detail, list) else [{"field": "", "message": str(exc.detail)}]
        return redirect(back, "未确认：" + "；".join(f"{e['field']}：{e['message']}" for e in detail), "err")
    upload = inputs.Upload(evidence.filename or "", evidence.file) if evidence is not None and evidence.filename else None
    try:
        deliveries.confirm_delivery(delivery_id, who or ctx.user.name, note_, when_, upload, url_)
    except ServiceError as exc:
        return redirect(back, f"未确认：{exc}", "err")
    return redirect(back, f"已确认人工渠道完成（{channel_label(_channel_of(delivery_id))}）")


def _channel_of(delivery_id: int) -> str:
    with session_scope() as s:
        return s.scalar(select(Delivery.channel).where(Delivery.id == delivery_id)) or ""


# --- lists ---------------------------------------------------------------------------------------

PAGE_SIZE = 50


def _document_rows(session: Session, user: Principal, *, status: str | None, q: str, page_no: int) -> tuple[list[dict], int]:
    stmt = select(Document).options(selectinload(Document.entry)).where(access.document_filter(session, user))
    if status:
        stmt = stmt.where(Document.status == status)
    if q.strip():
        like = f"%{q.strip()}%"
        stmt = stmt.where(Document.title.ilike(like) | Document.index_no.ilike(like))
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    docs = list(session.scalars(stmt.order_by(Document.id.desc()).limit(PAGE_SIZE).offset((page_no - 1) * PAGE_SIZE)))
    counts: dict[int, dict[str, int]] = {}
    if docs:
        for doc_id, st, n in session.execute(
            select(Delivery.document_id, Delivery.status, func.count()).where(Delivery.document_id.in_([d.id for d in docs]))
            .group_by(Delivery.document_id, Delivery.status)
        ):
            counts.setdefault(doc_id, {})[st] = n
    states = document_states(session, [(d.id, d.status) for d in docs])
    rows = []
    for d in docs:
        c = counts.get(d.id, {})
        rows.append({"doc": d, "total": sum(c.values()), "done": sum(n for s, n in c.items() if s in DONE_STATUSES),
                     "failed": c.get("failed", 0) + c.get("not_configured", 0), "state": states[d.id]})
    return rows, total


@page("GET", "/documents", ALL_ROLES)
def documents(request: Request, status: str = "", q: str = "", page_no: int = 1) -> Response:
    ctx = ctx_of(request)
    if status and status not in DocumentStatus.__members__:
        raise WebError(422, "文件状态不正确")
    page_no = max(1, min(page_no, 100_000))
    with session_scope() as s:
        rows, total = _document_rows(s, ctx.user, status=status or None, q=q[:100], page_no=page_no)
        return render(request, "documents.html", ctx, title="文件列表", rows=rows, total=total, status=status, q=q,
                      page_no=page_no, pages=max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE))


@page("GET", "/review", (Role.reviewer,))
def review_queue(request: Request) -> Response:
    ctx = ctx_of(request)
    with session_scope() as s:
        docs = list(s.scalars(select(Document).where(Document.status == DocumentStatus.pending_review)
                              .options(selectinload(Document.entry)).order_by(Document.due_date.asc().nulls_last(), Document.id)))
        near = _near_limit()
        content_hits = content_gate.hits_for_documents(s, [d.id for d in docs])  # the current dictionary, every review
        steps = review_chain.current_steps(s, [d.id for d in docs])
        return render(request, "review.html", ctx, title="保密审查", docs=docs, near=near, content_hits=content_hits,
                      steps=steps,
                      today=dt.datetime.now(TZ).date())


def _near_limit() -> dt.date | None:
    try:
        return add_working_days(dt.datetime.now(TZ).date(), 3)
    except CalendarError:
        return None
