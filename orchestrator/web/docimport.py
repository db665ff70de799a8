"""Submit form helpers for documents in: import a Word/PDF file (prefill), upload a body image, show staged files."""

from __future__ import annotations

import io
import re
from urllib.parse import unquote

from fastapi import File, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, Response

from orchestrator.auth import Role
from orchestrator.docimport.docx import ImportRefused, _check_image
from orchestrator.docimport.importer import import_document
from orchestrator.docimport.staging import localise_body, staged_url
from orchestrator.documents import attachments as att
from orchestrator.settings import get_settings
from orchestrator.web.core import WebError, page

_IMAGE_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif"}


def _editor_body(html: str, stored: list[att.StoredAttachment]) -> str:
    """The imported body for the editor: images by their staged URL (so they show while editing)."""
    by_name = {a.filename: staged_url(a) for a in stored}
    return re.sub(r'src="([^"]+)"', lambda m: f'src="{by_name.get(m.group(1), m.group(1))}"', html)


def _check_size(request: Request, limit: int) -> None:
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit + 64 * 1024:
        raise WebError(413, f"文件过大（上限 {limit // (1024 * 1024)} MB），未保存任何内容")


@page("POST", "/submit/import", (Role.clerk,))
async def import_file(request: Request, file: UploadFile = File(...)) -> JSONResponse:
    """Read a .docx/.doc/.wps/.pdf: recognised 公文 fields + body HTML + attachment refs, for the clerk to confirm."""
    settings = get_settings()
    _check_size(request, settings.max_import_bytes)
    try:
        res = await run_in_threadpool(import_document, settings, file.filename or "", file.file)
    except ImportRefused as exc:
        return JSONResponse({"error": str(exc)}, status_code=422)
    except att.AttachmentError as exc:
        return JSONResponse({"error": str(exc)}, status_code=422)
    out = res.as_json(url_of=staged_url)
    out["editor_html"] = _editor_body(res.body_html, res.attachments if res.kind == "docx" else [])
    out["staged"] = [f"{a.sha256}/{a.filename}" for a in res.attachments if res.kind == "pdf"]
    return JSONResponse(out)


def store_image(filename: str, data: bytes) -> att.StoredAttachment:
    ext = att.extension(att.clean_filename(filename))
    if ext not in _IMAGE_TYPES:
        raise ImportRefused("只能插入 PNG、JPG 或 GIF 图片")
    _check_image(data, _IMAGE_TYPES[ext], att.clean_filename(filename))
    return att.store(get_settings(), filename, io.BytesIO(data))


@page("POST", "/submit/image", (Role.clerk,))
async def upload_image(request: Request, file: UploadFile = File(...)) -> JSONResponse:
    """An image pasted or inserted in the editor: checked (type by content), stored, and its staged URL returned."""
    limit = get_settings().max_import_bytes
    _check_size(request, limit)
    data = await file.read(limit + 1)
    if len(data) > limit:
        return JSONResponse({"error": f"图片过大（上限 {limit // (1024 * 1024)} MB）"}, status_code=413)
    try:
        stored = await run_in_threadpool(store_image, file.filename or "image.png", data)
    except (ImportRefused, att.AttachmentError) as exc:
        return JSONResponse({"error": str(exc)}, status_code=422)
    return JSONResponse({"url": staged_url(stored), "filename": stored.filename, "sha256": stored.sha256})


@page("GET", "/submit/staged/{sha256}/{name}", (Role.clerk,))
def staged_file(request: Request, sha256: str, name: str) -> Response:
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise WebError(404, "文件不存在")
    ext = att.extension(name)
    if ext not in {*_IMAGE_TYPES, "pdf"}:
        raise WebError(404, "文件不存在")
    path = att.blob_path(get_settings(), sha256)
    if not path.is_file():
        raise WebError(404, "文件不存在或已失效，请重新上传")
    return FileResponse(path, media_type=att.CONTENT_TYPES[ext], headers={"X-Content-Type-Options": "nosniff"})


def body_with_attachment_urls(html: str, document_id: int, attachments: list) -> str:
    """The stored (sanitised) body for the staff document page: an image named by attachment file name is shown
    from that attachment's download URL."""
    by_name = {a.filename: f"/documents/{document_id}/attachments/{a.id}" for a in attachments}

    def sub(m: re.Match[str]) -> str:
        name = unquote(m.group(1))
        return f'src="{by_name[name]}"' if name in by_name else m.group(0)

    return re.sub(r'src="([^"/:]+)"', sub, html)


def _local_time(value: str) -> str:
    """A form's ``datetime-local`` (Beijing time, no zone) as the API's zone-aware ISO time; the API's checks apply."""
    value = value.strip()
    if not value:
        return ""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?", value):
        return value + "+08:00"
    return value


def form_schedule_fields(fields: dict[str, str]) -> dict[str, object]:
    """定时发布, 展示期, 关联文件, 有效性, 主题词 and 摘要 from the form, in the shape the API takes (empty means not given)."""
    out: dict[str, object] = {}
    for key in ("publish_at", "display_from", "display_until"):
        if fields.get(key, "").strip():
            out[key] = _local_time(fields[key])
    rel = fields.get("related_document_id", "").strip().lstrip("#")
    if rel:
        out["related_document_id"] = rel
        if fields.get("related_kind", "").strip():
            out["related_kind"] = fields["related_kind"].strip()
    for key in ("summary", "validity_date", "subject_words"):
        if fields.get(key, "").strip():
            out[key] = fields[key].strip()
    if fields.get("validity", "").strip():
        out["validity"] = fields["validity"].strip()
    return out


_ATTACHMENT_SRC = re.compile(r'src="/documents/(\d+)/attachments/(\d+)"')


def attachment_urls_to_names(html: str, document_id: int, attachments: list) -> tuple[str, list]:
    """The reverse of :func:`body_with_attachment_urls` for a corrected body coming back from the editor: images shown
    from this document's attachments are named by file name again; returns the body and the attachments it shows."""
    by_id = {a.id: a for a in attachments}
    used: list = []

    def sub(m: re.Match[str]) -> str:
        a = by_id.get(int(m.group(2))) if int(m.group(1)) == document_id else None
        if a is None:
            return m.group(0)
        if a not in used:
            used.append(a)
        return f'src="{a.filename}"'

    return _ATTACHMENT_SRC.sub(sub, html), used


__all__ = ["attachment_urls_to_names", "body_with_attachment_urls", "form_schedule_fields", "localise_body"]
