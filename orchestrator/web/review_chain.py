"""Review chains in the web app: the admin page 审核流程, the reviewer's page for one document (every channel's view,
attachments, personal-data findings, where it will go), the decisions (approve, send back, reject), the timeline on
the document page and the 审批单 export (docx, PDF, print view).

Who may act is the chain's rule (``orchestrator.review.chains.refusal``), checked on every POST whatever page the
form came from: a reviewer of another office, the wrong role or a person not named gets 403 with the reason.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import Form, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from starlette.concurrency import run_in_threadpool

from channels import registry as channel_registry
from channels.base import Channel, DocumentPayload, PermanentError
from channels.screens.render import html_to_text
from orchestrator import access
from orchestrator.auth import ROLE_LABELS, Principal, Role
from orchestrator.db import session_scope
from orchestrator.documents import review as review_decisions
from orchestrator.documents.content import find_personal_data
from orchestrator.documents.inputs import ServiceError
from orchestrator.models import Document, DocumentVersion, Publisher
from orchestrator.review import chains, export
from orchestrator.review import views as review_views
from orchestrator.review.config import RESTART_LABELS, ChainConfigError, parse_binding, parse_chain
from orchestrator.review.models import DocumentReview
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
from orchestrator.web.docimport import body_with_attachment_urls

MAX_FORM_STEPS = 12
SHORT_TEXT_CHANNELS = {"targeted_push", "bulletin_board", "broadcast"}  # read as short text, not a page


# --- the review state of one document, for pages --------------------------------------------------

review_view = review_views.review_view  # the document page's and the review page's reading (shared with the API)


def channel_previews(doc: Document, version: DocumentVersion) -> list[dict[str, Any]]:
    """Each channel the document will reach: its destinations, the title and text it will carry there, and what the
    channel's adapter would refuse. (The per-channel renderers can replace the body shown here.)"""
    reg = channel_registry.current()
    body = body_with_attachment_urls(version.body_html, doc.id, version.attachments)
    out = []
    for code in doc.entry.channels or []:
        options = dict((doc.channel_options or {}).get(code) or {})
        title = options.get("title") or version.title
        problems: list[str] = []
        dests = []
        for dest in reg.destinations(code):
            dests.append({"label": destination_label(code, dest.name), "configured": dest.adapter != "unconfigured"})
            try:
                adapter = reg.adapter_for(dest)
            except PermanentError:
                continue
            if type(adapter).precheck is Channel.precheck:
                continue
            payload = DocumentPayload(
                document_id=doc.id, version=version.version, index_no=doc.index_no, title=version.title,
                body_html=version.body_html, doc_number=version.doc_number, formed_on=doc.formed_on,
                publisher=doc.publisher.name, entry_code=doc.entry.code, entry_path=tuple(doc.entry.path),
                extra={"channel_options": options})
            problems += adapter.precheck(payload)
        kind = "text" if code in SHORT_TEXT_CHANNELS else "page"
        out.append({"code": code, "label": channel_label(code), "title": title, "destinations": dests,
                    "kind": kind, "text": html_to_text(version.body_html) if kind == "text" else "",
                    "body": body, "problems": problems,
                    "manual": all(not d["configured"] for d in dests) or code in {"reading_room", "print", "press",
                                                                                   "service_center", "onsite"}})
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


@page("POST", "/documents/{document_id}/review/approve", ALL_ROLES)
def approve(request: Request, document_id: int, step: str = Form("", max_length=10),
            comment: str = Form("", max_length=20_000), back: str = Form("", max_length=10)) -> Response:
    ctx = ctx_of(request)
    _check_readable(document_id, ctx.user)
    target = _back(document_id, back)
    if not step.strip():
        return redirect(target, "未执行：缺少审核步骤，请刷新页面后重试", "err")
    try:
        ids = review_decisions.approve(document_id, ctx.user.username, principal=ctx.user, step=step, comment=comment)
    except ServiceError as exc:
        return _refused(document_id, exc, target)
    return redirect(f"/documents/{document_id}", review_decisions.approve_summary(document_id, ids))


@page("POST", "/documents/{document_id}/review/send-back", ALL_ROLES)
def send_back(request: Request, document_id: int, step: str = Form("", max_length=10),
              comment: str = Form("", max_length=20_000), target: str = Form("clerk", max_length=10),
              back: str = Form("", max_length=10)) -> Response:
    ctx = ctx_of(request)
    _check_readable(document_id, ctx.user)
    where = _back(document_id, back)
    if not step.strip():
        return redirect(where, "未执行：缺少审核步骤，请刷新页面后重试", "err")
    try:
        text = review_decisions.send_back(document_id, ctx.user, step=step, comment=comment, target=target)
    except ServiceError as exc:
        return _refused(document_id, exc, where)
    return redirect(f"/documents/{document_id}", text)


@page("POST", "/documents/{document_id}/review/reject", ALL_ROLES)
def reject(request: Request, document_id: int, step: str = Form("", max_length=10),
           comment: str = Form("", max_length=20_000), back: str = Form("", max_length=10)) -> Response:
    ctx = ctx_of(request)
    _check_readable(document_id, ctx.user)
    where = _back(document_id, back)
    if not step.strip():
        return redirect(where, "未执行：缺少审核步骤，请刷新页面后重试", "err")
    try:
        review_decisions.reject(document_id, ctx.user.username, comment.strip(), principal=ctx.user, step=step)
    except ServiceError as exc:
        return _refused(document_id, exc, where)
    return redirect(f"/documents/{document_id}", "已作出审核不通过的决定，文件不会发布")


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
                      step_who=chains.step_who, blank_rows=4, **extra)


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
