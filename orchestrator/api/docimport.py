"""REST API for documents in: ``POST /api/v1/documents/import`` — the same reading as the submit form's upload."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from orchestrator import auth
from orchestrator.api.routes import User, _close, _read_form, require, router
from orchestrator.api.views import fail
from orchestrator.docimport.docx import ImportRefused
from orchestrator.docimport.importer import import_document
from orchestrator.documents import attachments as att
from orchestrator.settings import get_settings


@router.post(
    "/documents/import", summary="导入 Word/WPS/PDF 文件：识别文号、标题、主送、落款、成文日期，返回规范正文与附件引用",
    openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file"], "properties": {"file": {"type": "string", "format": "binary"}}}}}}},
)
async def import_document_api(request: Request, user: User) -> dict[str, Any]:
    """The body comes back in the canonical subset with images named by attachment file name; submit it with
    ``staged_attachments`` (the ``sha256/filename`` of each returned attachment) to attach them to the document."""
    require(user, auth.Role.clerk)
    settings = get_settings()
    form = await _read_form(request, settings.max_import_bytes + 64 * 1024, settings)
    try:
        files = [v for k, v in form.multi_items() if isinstance(v, UploadFile)]
        if len(files) != 1 or any(k != "file" for k in form):
            raise fail(422, "请以 multipart 表单字段 file 上传一个文件", field="file")
        try:
            res = await run_in_threadpool(import_document, settings, files[0].filename or "", files[0].file)
        except (ImportRefused, att.AttachmentError) as exc:
            raise fail(422, str(exc), field="file") from exc
    finally:
        await _close(form)
    out = res.as_json()
    out["staged_attachments"] = [f"{a.sha256}/{a.filename}" for a in res.attachments]
    return out
