"""The work a person must do for a delivery waiting on them: instructions and the materials to use.

Manual channels (reading room, notice boards, press …) get a printable packet; a WeChat account without API rights
gets the paste-ready article (inline-styled HTML, cover, title, digest, 阅读原文 link). The article is served on its
own route with a CSP that allows its inline styles and nothing else, framed by the task page in a sandbox.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from sqlalchemy import select

from orchestrator.auth import Role
from orchestrator.db import session_scope
from orchestrator.documents.attachments import CONTENT_TYPES, blob_path, extension
from orchestrator.documents.deliveries import STATUS_LABELS
from orchestrator.models import Delivery
from orchestrator.settings import get_settings
from orchestrator.web.core import ALL_ROLES, WebError, channel_label, ctx_of, page, render
from orchestrator.web.documents import _doc_or_404

# Channels whose material is paper a person puts up (or hands out) at a place.
PHYSICAL = {"reading_room", "bulletin_board", "service_center", "service_station", "print", "onsite"}


def packet_heading(channel: str, action: str, label: str) -> tuple[str, bool]:
    """The heading of the material section and whether it is meant for printing, per channel and action."""
    if action == "withdraw":
        if channel == "wechat":
            return "要删除的微信文章", False
        if channel in PHYSICAL:
            return f"要撤下的材料（请从{label}撤下以下文件）", False
        return f"要撤回的信息（请在{label}撤下）", False
    if channel in PHYSICAL:
        verb = "替换为以下新版本" if action == "update" else "可打印"
        return f"公开材料（{verb}，放置于{label}）", True
    if channel == "wechat":
        return "待发布的信息（请在公众号后台发布）", False
    return f"公开材料（供{label}{'更正' if action == 'update' else '发布'}使用）", channel in {"press", "broadcast"}


def _delivery_for(delivery_id: int, request: Request) -> tuple[Delivery, Any]:
    ctx = ctx_of(request)
    with session_scope() as s:
        document_id = s.scalar(select(Delivery.document_id).where(Delivery.id == delivery_id))
        if document_id is None:
            raise WebError(404, f"投递 {delivery_id} 不存在")
        doc = _doc_or_404(s, document_id, ctx.user)  # the office check: another office's task is "not found"
        d = next(x for x in doc.deliveries if x.id == delivery_id)
        s.expunge_all()
        return d, doc


@page("GET", "/deliveries/{delivery_id}/task", ALL_ROLES)
def task_page(request: Request, delivery_id: int) -> Response:
    d, doc = _delivery_for(delivery_id, request)
    data = dict((d.receipt or {}).get("data") or {})
    version = doc.versions[-1]
    heading, printable = packet_heading(d.channel, d.action, channel_label(d.channel))
    # A delivery an adapter completes by itself has no work for a person: say so rather than show empty instructions.
    manual = (d.status == "awaiting_confirmation" or bool(d.confirmation_note or d.evidence_sha256)
              or any(data.get(k) for k in ("task", "packet", "article_html")))
    return render(
        request, "task.html", ctx_of(request), title=f"人工任务：{channel_label(d.channel)}", d=d, doc=doc, manual=manual,
        version=version, data=data, packet=data.get("packet") or {}, channel=channel_label(d.channel),
        status=STATUS_LABELS.get(d.status, d.status), has_article=bool(data.get("article_html")),
        can_confirm=d.status == "awaiting_confirmation" and ctx_of(request).user.has_role(Role.ops),
        heading=heading, printable=printable,
    )


@page("GET", "/deliveries/{delivery_id}/task/article.html", ALL_ROLES)
def task_article(request: Request, delivery_id: int) -> Response:
    d, _doc = _delivery_for(delivery_id, request)
    html = str(((d.receipt or {}).get("data") or {}).get("article_html") or "")
    if not html:
        raise WebError(404, "该投递没有待粘贴的图文")
    page_html = f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>图文预览</title></head><body>{html}</body></html>'
    return HTMLResponse(page_html, headers={
        # The adapter sanitised the article; this policy still forbids scripts and remote loads, and allows only
        # the inline styles WeChat articles are made of. Framed only by our own task page.
        "Content-Security-Policy": "default-src 'none'; img-src data: https:; style-src 'unsafe-inline'; "
                                   "frame-ancestors 'self'; sandbox",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    })


@page("GET", "/deliveries/{delivery_id}/evidence", ALL_ROLES)
def evidence_download(request: Request, delivery_id: int) -> Response:
    """The file a person attached when confirming a manual delivery (photo, scan)."""
    d, _doc = _delivery_for(delivery_id, request)
    if not d.evidence_sha256:
        raise WebError(404, "该投递没有上传凭证")
    path = blob_path(get_settings(), d.evidence_sha256)
    if not path.is_file():
        raise WebError(404, "凭证文件已丢失，请联系运维人员")
    return FileResponse(path, media_type=CONTENT_TYPES.get(extension(d.evidence_filename), "application/octet-stream"),
                        filename=d.evidence_filename, headers={"X-Content-Type-Options": "nosniff"})
