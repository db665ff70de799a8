"""Review chains in the web app: the admin page 审核流程, the reviewer's page for one document (every channel's view,
attachments, personal-data findings, where it will go), the decisions (approve, send back, reject), the timeline on
the document page and the 审批单 export (docx, PDF, print view).

Who may act is the chain's rule (``orchestrator.review.chains.refusal``), checked on every POST whatever page the
form came from: a reviewer of another office, the wrong role or a person not named gets 403 with the reason.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from starlette.concurrency import run_in_threadpool

from channels import registry as channel_registry
from channels.base import AttachmentInfo, Channel, ChannelPreview, DocumentPayload, PermanentError
from channels.manual import ManualChannel
from channels.preview import generic as generic_preview
from orchestrator import access
from orchestrator.auth import ROLE_LABELS, Principal, Role
from orchestrator.db import session_scope
from orchestrator.delivery.store.context import expected_site_url
from orchestrator.documents import review as review_decisions
from orchestrator.documents.attachments import blob_path
from orchestrator.documents.content import find_personal_data
from orchestrator.documents.inputs import ServiceError
from orchestrator.models import Document, DocumentVersion, Publisher
from orchestrator.review import chains, export
from orchestrator.review import views as review_views
from orchestrator.review.config import RESTART_LABELS, ChainConfigError, parse_binding, parse_chain, read_file
from orchestrator.review.models import DocumentReview
from orchestrator.settings import get_settings
from orchestrator.web.core import (
    ALL_ROLES,
    WebError,
    channel_label,
    ctx_of,
    destination_label,
    page,
    redirect,
    render,
)

MAX_FORM_STEPS = 12


# --- the review state of one document, for pages --------------------------------------------------

review_view = review_views.review_view  # the document page's and the review page's reading (shared with the API)


MANUAL_CHANNELS = {"reading_room", "print", "press", "service_center", "onsite"}


def preview_payload(doc: Document, version: DocumentVersion, channel: str) -> DocumentPayload:
    """The payload the channel's adapter will get for this version once approved (as the fan-out builds it in
    ``orchestrator.delivery.store.context``; the website's own address is not known to itself before publishing)."""
    settings = get_settings()
    return DocumentPayload(
        document_id=doc.id, version=version.version, index_no=doc.index_no, title=version.title,
        body_html=version.body_html, doc_number=version.doc_number, formed_on=doc.formed_on,
        publisher=doc.publisher.name, entry_code=doc.entry.code, entry_path=tuple(doc.entry.path),
        offices=tuple(doc.entry.offices or ()),
        attachments=tuple(AttachmentInfo(a.filename, a.content_type, a.size, a.sha256, blob_path(settings, a.sha256))
                          for a in version.attachments),
        published_at=doc.publish_at or doc.created_at, updated_at=version.created_at,
        display_from=doc.display_from, display_until=doc.display_until,
        site_url="" if channel == "website" else expected_site_url(doc.id, settings),
        summary=version.summary, validity=doc.validity or "有效",
        extra={"channel_options": dict((doc.channel_options or {}).get(channel) or {}),
               "entry_options": dict(doc.entry.options or {}), "withdraw_reason": doc.withdraw_reason,
               "change_note": version.change_note, "subject_words": doc.subject_words or "",
               "validity_date": doc.validity_date.isoformat() if doc.validity_date else ""},
    )


def attachment_urls(doc: Document, version: DocumentVersion) -> dict[str, str]:
    """Attachment file name → the app's download URL (what the previews' images and links load)."""
    return {a.filename: f"/documents/{doc.id}/attachments/{a.id}" for a in version.attachments}


def _preview_adapter(code: str) -> Channel:
    """The adapter that renders a channel's preview: its first configured destination's, else the manual task's
    (a channel without a destination is handled by a person)."""
    reg = channel_registry.current()
    for dest in reg.destinations(code):
        if dest.adapter == "unconfigured":
            continue
        try:
            return reg.adapter_for(dest)
        except PermanentError:
            continue
    return ManualChannel({"label": channel_label(code)}, name=code)


def channel_preview(doc: Document, version: DocumentVersion, code: str) -> ChannelPreview:
    """The channel's own rendering of ``version`` (see :meth:`channels.base.Channel.preview`)."""
    adapter = _preview_adapter(code)
    payload = preview_payload(doc, version, code)
    urls = attachment_urls(doc, version)
    try:
        own = adapter.preview(payload, urls)
    except PermanentError as exc:  # the channel cannot render it (its configuration): say so, show the generic view
        return dataclasses.replace(generic_preview(payload, urls, caption=adapter.preview_caption),
                                   notes=(f"该渠道暂时无法生成专属预览（{exc.message}），以下为通用预览。",))
    return own if own is not None else generic_preview(payload, urls, caption=adapter.preview_caption)


def with_notes(html: str, notes: tuple[str, ...]) -> str:
    """The preview page with the channel's remarks (limits, screens, recipients) in a bar at the top."""
    if not notes:
        return html
    bar = ('<div id="preview-notes" style="margin:0;padding:8px 12px;background:#fff8e1;border-bottom:1px solid #e0c36a;'
           'color:#5d4200;font:14px/1.6 \'Noto Sans CJK SC\',\'Microsoft YaHei\',sans-serif;">'
           + "".join(f'<p style="margin:0;">{escape(n)}</p>' for n in notes) + "</div>")
    m = re.search(r"<body[^>]*>", html)
    return html[:m.end()] + bar + html[m.end():] if m else bar + html


def channel_previews(doc: Document, version: DocumentVersion) -> list[dict[str, Any]]:
    """Each channel the document will reach: its destinations, what the channel's adapter would refuse, and where
    its own preview is served (``/documents/<id>/review/preview/<channel>``, framed by the review page)."""
    reg = channel_registry.current()
    out = []
    for code in doc.entry.channels or []:
        options = dict((doc.channel_options or {}).get(code) or {})
        title = options.get("title") or version.title
        problems: list[str] = []
        dests = []
        caption, frame = ManualChannel.preview_caption, ManualChannel.preview_frame
        captioned = False
        for dest in reg.destinations(code):
            dests.append({"label": destination_label(code, dest.name), "configured": dest.adapter != "unconfigured"})
            try:
                cls = reg.adapter_class(dest)
                if not captioned:
                    caption, frame, captioned = cls.preview_caption, cls.preview_frame, True
                if cls.precheck is Channel.precheck:
                    continue
                adapter = reg.adapter_for(dest)
            except PermanentError:
                continue
            problems += adapter.precheck(preview_payload(doc, version, code))
        out.append({"code": code, "label": channel_label(code), "title": title, "destinations": dests,
                    "problems": problems, "caption": caption, "frame": frame,
                    "preview_url": f"/documents/{doc.id}/review/preview/{quote(code, safe='')}",
                    "manual": all(not d["configured"] for d in dests) or code in MANUAL_CHANNELS})
    return out


def current_steps(session: Session, document_ids: list[int]) -> dict[int, str]:
    """The step each document waits at, in words (the review queue's column)."""
    out: dict[int, str] = {}
    if document_ids:
        for r in session.scalars(select(DocumentReview).where(DocumentReview.document_id.in_(document_ids))):
            if r.state == "returned":
                out[r.document_id] = "已退回经办人修改"
            elif r.state == "in_review" and r.steps:
                out[r.document_id] = r.steps[r.current_step]["name"]
    return out


def _doc(session: Session, document_id: int, user: Principal) -> Document:
    doc = access.readable_document(
        session, user, document_id,
        selectinload(Document.versions).selectinload(DocumentVersion.attachments),
        selectinload(Document.entry), selectinload(Document.publisher))
    if doc is None:
        raise WebError(404, f"文件 {document_id} 不存在，或不属于您所在科室")
    return doc


# --- the reviewer's page and the decisions -------------------------------------------------------

@page("GET", "/documents/{document_id}/review", ALL_ROLES)
def review_page(request: Request, document_id: int) -> Response:
    ctx = ctx_of(request)
    with session_scope() as s:
        doc = _doc(s, document_id, ctx.user)
        version = doc.versions[-1]
        hits = find_personal_data(version.body_html)
        return render(request, "review_document.html", ctx, title=f"审核：{doc.title}", doc=doc, version=version,
                      review=review_view(s, doc, ctx.user), previews=channel_previews(doc, version),
                      personal=[f"{h.label} {h.masked}" for h in hits])


# The preview is the channel's own output: inline styles (WeChat articles, e-mails, slides are made of them), images
# from this app (the attachment routes), nothing else; no scripts, no plugins, no forms, no remote loads. Sandboxed
# without scripts; same-origin only so that the images and attachment links load with the reviewer's session.
PREVIEW_CSP = ("default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline' 'self'; base-uri 'none'; "
               "form-action 'none'; frame-ancestors 'self'; sandbox allow-same-origin allow-downloads")


@page("GET", "/documents/{document_id}/review/preview/{channel_code}", ALL_ROLES)
def channel_preview_page(request: Request, document_id: int, channel_code: str) -> Response:
    """One channel's preview of the document's newest version, as a page of its own (framed by the review page)."""
    ctx = ctx_of(request)
    with session_scope() as s:
        doc = _doc(s, document_id, ctx.user)
        if channel_code not in (doc.entry.channels or []):
            raise WebError(404, f"该文件的目录事项未标明渠道“{channel_label(channel_code)}”，没有该渠道的预览")
        preview = channel_preview(doc, doc.versions[-1], channel_code)
    return HTMLResponse(with_notes(preview.html, preview.notes), headers={
        "Content-Security-Policy": PREVIEW_CSP, "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer"})


def _back(document_id: int, where: str) -> str:
    return f"/documents/{document_id}/review" if where == "review" else f"/documents/{document_id}"


def _refused(document_id: int, exc: ServiceError | chains.ReviewRefused, back: str) -> Response:
    status = exc.status
    if status in (403, 404):
        raise WebError(status, str(exc))
    return redirect(back, f"未执行：{exc}", "err")


def _check_readable(document_id: int, user: Principal) -> None:
    with session_scope() as s:
        if not access.may_read(s, user, document_id):
            raise WebError(404, f"文件 {document_id} 不存在，或不属于您所在科室")


def _decide(request: Request, document_id: int, step: str, back: str, act: Callable[[Principal], str]) -> Response:
    """One reviewer decision from the review page or the document page: the caller's step (guards against acting on a
    step that moved on), ``act`` records it and says what happened; a refusal goes back where the form was."""
    ctx = ctx_of(request)
    _check_readable(document_id, ctx.user)
    where = _back(document_id, back)
    if not step.strip():
        return redirect(where, "未执行：缺少审核步骤，请刷新页面后重试", "err")
    try:
        text = act(ctx.user)
    except ServiceError as exc:
        return _refused(document_id, exc, where)
    return redirect(f"/documents/{document_id}", text)


@page("POST", "/documents/{document_id}/review/approve", ALL_ROLES)
def approve(request: Request, document_id: int, step: str = Form("", max_length=10),
            comment: str = Form("", max_length=20_000), back: str = Form("", max_length=10)) -> Response:
    def act(user: Principal) -> str:
        ids = review_decisions.approve(document_id, user.username, principal=user, step=step, comment=comment)
        return review_decisions.approve_summary(document_id, ids)

    return _decide(request, document_id, step, back, act)


@page("POST", "/documents/{document_id}/review/send-back", ALL_ROLES)
def send_back(request: Request, document_id: int, step: str = Form("", max_length=10),
              comment: str = Form("", max_length=20_000), target: str = Form("clerk", max_length=10),
              back: str = Form("", max_length=10)) -> Response:
    return _decide(request, document_id, step, back, lambda user: review_decisions.send_back(
        document_id, user, step=step, comment=comment, target=target))


@page("POST", "/documents/{document_id}/review/reject", ALL_ROLES)
def reject(request: Request, document_id: int, step: str = Form("", max_length=10),
           comment: str = Form("", max_length=20_000), back: str = Form("", max_length=10)) -> Response:
    def act(user: Principal) -> str:
        review_decisions.reject(document_id, user.username, comment.strip(), principal=user, step=step)
        return "已作出审核不通过的决定，文件不会发布"

    return _decide(request, document_id, step, back, act)


# --- the 审批单 -----------------------------------------------------------------------------------

approval_form = review_views.approval_form


def _form_for(request: Request, document_id: int) -> export.ApprovalForm:
    ctx = ctx_of(request)
    with session_scope() as s:
        return approval_form(s, _doc(s, document_id, ctx.user))


def _download(data: bytes, media: str, name: str) -> Response:
    return Response(data, media_type=media, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}", "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store"})


@page("GET", "/documents/{document_id}/approval", ALL_ROLES)
def approval_print(request: Request, document_id: int) -> Response:
    form = _form_for(request, document_id)
    return Response(review_views.approval_html(form), media_type="text/html; charset=utf-8", headers={
        "Content-Security-Policy": "default-src 'self'; style-src 'self'; script-src 'none'; frame-ancestors 'none'",
        "X-Frame-Options": "DENY", "Cache-Control": "no-store"})


@page("GET", "/documents/{document_id}/approval.docx", ALL_ROLES)
def approval_docx(request: Request, document_id: int) -> Response:
    form = _form_for(request, document_id)
    return _download(review_views.approval_docx(form), review_views.DOCX_MEDIA,
                     review_views.approval_filename(form, "docx"))


@page("GET", "/documents/{document_id}/approval.pdf", ALL_ROLES)
def approval_pdf(request: Request, document_id: int) -> Response:
    form = _form_for(request, document_id)
    try:
        pdf = review_views.approval_pdf(form)
    except export.PdfUnavailable as exc:
        raise WebError(503, str(exc)) from exc
    return _download(pdf, "application/pdf", review_views.approval_filename(form, "pdf"))


# --- the admin page 审核流程 -----------------------------------------------------------------------

def _steps_from_form(form: Any) -> list[dict[str, Any]]:
    names = form.getlist("step_name")
    if len(names) > MAX_FORM_STEPS:
        raise ChainConfigError([f"步骤过多（上限 {MAX_FORM_STEPS} 个）"])
    cols = {k: form.getlist(f"step_{k}") for k in ("role", "office", "own_office", "users", "skippable")}
    if any(len(v) != len(names) for v in cols.values()):
        raise ChainConfigError(["表单不完整（步骤的各栏数目不一致），请刷新页面后重试"])
    steps = []
    for i, name in enumerate(names):
        name = str(name).strip()
        users = str(cols["users"][i]).replace("，", ",").replace("、", ",").replace(" ", ",")
        row = {"name": name, "role": str(cols["role"][i]).strip(), "office": str(cols["office"][i]).strip(),
               "own_office": str(cols["own_office"][i]) == "yes",
               "users": [u for u in users.split(",") if u.strip()], "skippable": str(cols["skippable"][i]) == "yes"}
        if not name and not row["office"] and not row["users"]:
            continue  # an empty row of the form
        steps.append(row)
    return steps


def _admin_page(request: Request, status: int = 200, errors: list[str] | None = None, **extra: Any) -> Response:
    ctx = ctx_of(request)
    with session_scope() as s:
        chains_ = chains.list_chains(s)
        bindings = chains.list_bindings(s)
        publishers = list(s.scalars(select(Publisher).order_by(Publisher.name)))
        pub_names = {p.id: p.name for p in publishers}
        return render(request, "review_chains.html", ctx, status_code=status, title="审核流程", chains=chains_,
                      bindings=bindings, publishers=publishers, pub_names=pub_names, errors=errors or [],
                      roles=[(r.value, ROLE_LABELS[r]) for r in Role], restart_labels=RESTART_LABELS,
                      step_who=chains.step_who, blank_rows=4, config_file=_config_file(), **extra)


@page("GET", "/review-chains", (Role.admin,))
def chains_page(request: Request) -> Response:
    return _admin_page(request)


async def _save(request: Request, chain_id: int | None) -> Response:
    ctx = ctx_of(request)
    form = await request.form()
    try:
        spec = parse_chain({"name": str(form.get("name") or ""), "restart": str(form.get("restart") or "from_start"),
                            "description": str(form.get("description") or ""), "steps": _steps_from_form(form)})
        await run_in_threadpool(_store_chain, spec, ctx.user.username, chain_id)
    except ChainConfigError as exc:
        return await run_in_threadpool(_admin_page, request, 422, exc.messages)
    return redirect("/review-chains", f"已保存审核流程“{spec.name}”")


def _store_chain(spec: Any, actor: str, chain_id: int | None) -> None:
    with session_scope() as s:
        chains.save_chain(s, spec, actor, chain_id)


@page("POST", "/review-chains/bindings", (Role.admin,))
def set_binding(request: Request, publisher: str = Form("", max_length=200), entry: str = Form("", max_length=64),
                chain: str = Form("", max_length=100), skip: str = Form("", max_length=1000)) -> Response:
    ctx = ctx_of(request)
    skips = [n.strip() for n in skip.replace("，", ",").replace("、", ",").split(",") if n.strip()]
    try:
        spec = parse_binding({"publisher": publisher, "entry": entry, "chain": chain or None, "skip": skips})
        with session_scope() as s:
            chains.set_binding(s, spec, ctx.user.username)
    except ChainConfigError as exc:
        return _admin_page(request, 422, exc.messages)
    scope = f"{publisher} / {entry}" if entry.strip() else f"{publisher}（全部事项）"
    return redirect("/review-chains", f"已设置：{scope} → {chain or '不审核'}")


@page("POST", "/review-chains/bindings/{binding_id}/delete", (Role.admin,))
def delete_binding(request: Request, binding_id: int) -> Response:
    ctx = ctx_of(request)
    try:
        with session_scope() as s:
            chains.delete_binding(s, binding_id, ctx.user.username)
    except ChainConfigError as exc:
        return _admin_page(request, 404, exc.messages)
    return redirect("/review-chains", "已删除该适用范围")


def _config_file() -> Path:
    return get_settings().config_dir / "review_chains.yaml"


@page("POST", "/review-chains/load-config", (Role.admin,))
def load_config(request: Request, replace: str = Form("", max_length=10)) -> Response:
    """The deployment's reviewed file (``config/review_chains.yaml``) into the database, as ``orchestrator
    review-chains load`` does: all or nothing. Replacing chains or bindings an admin already set needs the box ticked."""
    ctx = ctx_of(request)
    path = _config_file()
    try:
        spec = read_file(path)
        with session_scope() as s:
            if (chains.list_chains(s) or chains.list_bindings(s)) and replace != "1":
                raise ChainConfigError(["已有审核流程或适用范围：载入配置文件会替换现有的全部设置，请勾选“替换现有设置”后再载入"])
            n_chains, n_bindings = chains.load_file(s, spec, ctx.user.username)
    except ChainConfigError as exc:
        return _admin_page(request, 422, exc.messages)
    return redirect("/review-chains", f"已从配置文件 {path.name} 载入：{n_chains} 个审核流程，{n_bindings} 条适用范围")


@page("POST", "/review-chains", (Role.admin,))
async def create_chain(request: Request) -> Response:
    return await _save(request, None)


@page("POST", "/review-chains/{chain_id}", (Role.admin,))
async def update_chain(request: Request, chain_id: int) -> Response:
    return await _save(request, chain_id)


@page("POST", "/review-chains/{chain_id}/delete", (Role.admin,))
def delete_chain(request: Request, chain_id: int) -> Response:
    ctx = ctx_of(request)
    try:
        with session_scope() as s:
            name = chains.delete_chain(s, chain_id, ctx.user.username)
    except ChainConfigError as exc:
        return _admin_page(request, 409, exc.messages)
    return redirect("/review-chains", f"已删除审核流程“{name}”")
