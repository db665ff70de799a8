"""REST API (``/api/v1``): the same document operations (``orchestrator.documents``) as the CLI and the web form, behind per-user Bearer tokens.

Errors always have one shape, ``{"detail": [{"field": ..., "message": ...}]}``, with Chinese messages for the person
reading them. Request bodies are parsed here (not by FastAPI's body injection) so that oversized bodies are refused
while streaming, before anything is stored, and so that JSON and multipart submissions share one validation path.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException
from starlette.types import Message

from orchestrator import access, auth
from orchestrator.api.validation import FIELD_LABELS as _FIELD_LABELS
from orchestrator.api.validation import translate_validation
from orchestrator.api.views import (
    DATE_RANGE_MESSAGE,
    TZ,
    delivery_filters,
    delivery_json,
    document_json,
    entry_json,
    fail,
    load_document,
)
from orchestrator.db import session_scope
from orchestrator.docimport.staging import staged_uploads
from orchestrator.documents import deliveries, event_service, inputs, review, submission, versions
from orchestrator.documents.deliveries import STATUS_LABELS
from orchestrator.documents.inputs import MAX_ID, NUL_MESSAGE, FieldError, ServiceError
from orchestrator.models import (
    CatalogEntryRow,
    Delivery,
    DeliveryStatus,
    Document,
    Publisher,
)
from orchestrator.review import export
from orchestrator.review import views as review_views
from orchestrator.review.config import MAX_COMMENT
from orchestrator.settings import Settings, get_settings

MAX_FILES = 20
# JSON bodies: the body text limit (characters) can take up to 6 bytes each once JSON-escaped, plus the other fields.
JSON_OVERHEAD = 256 * 1024
ERROR_SCHEMA = {
    "description": "请求被拒绝（中文说明，逐字段列出）",
    "content": {"application/json": {"example": {"detail": [{"field": "标题", "message": "必填"}]}}},
}
COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    400: ERROR_SCHEMA, 401: ERROR_SCHEMA, 403: ERROR_SCHEMA, 404: ERROR_SCHEMA, 409: ERROR_SCHEMA, 413: ERROR_SCHEMA,
    415: ERROR_SCHEMA, 422: ERROR_SCHEMA, 429: ERROR_SCHEMA,
}

DocumentId = Annotated[int, Path(ge=1, le=MAX_ID, description="文件编号")]
DeliveryId = Annotated[int, Path(ge=1, le=MAX_ID, description="投递编号")]


async def _no_nul_in_url(request: Request) -> None:
    """NUL characters in the path or query are refused alike on every database (PostgreSQL cannot store or compare them)."""
    for key, value in [*request.path_params.items(), *request.query_params.multi_items()]:
        if "\x00" in str(value) or "\x00" in key:
            raise fail(422, NUL_MESSAGE, field=_FIELD_LABELS.get(key, key))


router = APIRouter(prefix="/api/v1", tags=["api"], responses=COMMON_ERRORS, dependencies=[Depends(_no_nul_in_url)])
_bearer = HTTPBearer(auto_error=False, description="个人 API 令牌（orchestrator token create 生成）")


# --- errors --------------------------------------------------------------------------------------

def _detail(errors: list[FieldError]) -> list[dict[str, str]]:
    return [{"field": e.field, "message": e.message} for e in errors]


def _from_service(exc: ServiceError) -> HTTPException:
    return HTTPException(status_code=exc.status, detail=_detail(exc.errors))


def install_error_handlers(app: FastAPI) -> None:
    """Chinese JSON errors for ``/api/`` paths; other routers (the web UI) keep FastAPI's defaults or their own."""
    async def on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        if not request.url.path.startswith("/api/"):
            return await request_validation_exception_handler(request, exc)
        return JSONResponse({"detail": translate_validation(list(exc.errors()))}, status_code=422)

    async def on_crash(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": [{"field": "", "message": "服务器内部错误，已记录日志，请联系运维人员"}]},
                            status_code=500)

    app.add_exception_handler(RequestValidationError, on_validation)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, on_crash)


# --- authentication and roles --------------------------------------------------------------------

def client_address(request: Request) -> str:
    return (request.client.host if request.client else "")[:200]


def current_user(request: Request,
                 creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> auth.Principal:
    challenge = {"WWW-Authenticate": "Bearer"}
    if creds is None or creds.scheme.lower() != "bearer":
        raise fail(401, "缺少 API 令牌（请在请求头中提供 Authorization: Bearer <令牌>）", headers=challenge)
    try:
        return auth.authenticate_token(creds.credentials, client_address(request))
    except auth.Throttled as exc:
        raise fail(429, str(exc), headers={"Retry-After": str(exc.retry_after)}) from exc
    except auth.AuthError as exc:
        raise fail(401, str(exc), headers=challenge) from exc


User = Annotated[auth.Principal, Depends(current_user)]
ROLE_TEXT = {r: auth.ROLE_LABELS[r] for r in auth.Role}


def require(user: auth.Principal, *roles: auth.Role) -> None:
    if not user.has_role(*roles):
        names = "、".join(ROLE_TEXT[r] for r in (*roles, auth.Role.admin))
        raise fail(403, f"权限不足：此操作需要{names}角色")


def _check_office(user: auth.Principal, entry: CatalogEntryRow) -> None:
    if not user.may_submit_for(list(entry.offices or [])):
        offices = "、".join(entry.offices or []) or "（未指定）"
        raise fail(403, f"您所在科室（{user.office or '未设置'}）不是该目录事项的责任科室（{offices}），不能为其提交或修改文件",
                   field="目录事项")


# --- reading bodies under a limit ----------------------------------------------------------------

class _TooLarge(Exception):
    pass


def _limited(request: Request, limit: int) -> Request:
    """The same request, but reading more than ``limit`` bytes raises: oversized bodies stop before they are stored."""
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise fail(400, "Content-Length 请求头无效")
        if int(length) > limit:
            raise _too_large(limit)
    seen = 0
    receive = request.receive

    async def counting() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _TooLarge
        return message

    return Request(request.scope, counting)


def _too_large(limit: int) -> HTTPException:
    return fail(413, f"请求体过大（上限 {_mb(limit)}），未保存任何内容")


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MB" if n >= 1024 * 1024 else f"{n // 1024} KB"


def _json_limit(settings: Settings) -> int:
    return settings.max_body_chars * 6 + JSON_OVERHEAD


def multipart_limit(settings: Settings) -> int:
    return _json_limit(settings) + settings.max_attachment_bytes * MAX_FILES


def _has_no_body(request: Request) -> bool:
    return request.headers.get("content-length", "0") == "0" and "transfer-encoding" not in request.headers


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def _read_json(request: Request, settings: Settings, limit: int | None = None) -> dict[str, Any]:
    limit = limit or _json_limit(settings)
    limited = _limited(request, limit)
    try:
        raw = await limited.body()
    except _TooLarge:
        raise _too_large(limit) from None
    return _parse_json_object(raw, "请求体")


def _parse_json_object(raw: bytes | str, what: str) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except RecursionError:
        raise fail(400, f"{what}嵌套层次过深，不是可受理的 JSON") from None
    except (ValueError, UnicodeDecodeError):
        raise fail(400, f"{what}不是有效的 JSON") from None
    if not isinstance(data, dict):
        raise fail(422, f"{what}必须是 JSON 对象（{{...}}）")
    if inputs.find_nul(data):
        raise fail(422, f"{what}中的文字{NUL_MESSAGE}")
    return data


async def _read_form(request: Request, limit: int, settings: Settings) -> FormData:
    limited = _limited(request, limit)
    try:
        # max_part_size bounds the non-file fields (the JSON ``data`` field may carry a long body).
        return await limited.form(max_files=MAX_FILES, max_fields=50, max_part_size=_json_limit(settings))
    except _TooLarge:
        raise _too_large(limit) from None
    except (MultiPartException, StarletteHTTPException) as exc:
        msg = str(getattr(exc, "detail", None) or exc)
        if "Too many files" in msg:
            raise fail(413, f"附件过多（每次最多 {MAX_FILES} 个）", field="附件") from None
        if "Part exceeded maximum size" in msg:
            raise fail(413, f"表单字段过大（上限 {_mb(_json_limit(settings))}）") from None
        raise fail(400, "multipart 表单格式不正确") from None


def _uploads(form: FormData, allowed_fields: set[str], file_field: str = "files") -> list[inputs.Upload]:
    ups = []
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            if key != file_field:
                raise fail(422, f"文件字段应命名为“{file_field}”，收到“{key}”", field="附件")
            ups.append(inputs.Upload(value.filename or "", value.file))
        elif key not in allowed_fields:
            raise fail(422, "不认识的表单字段", field=key)
    return ups


async def _close(form: FormData | None) -> None:
    if form is not None:
        await form.close()


async def _body_and_files(request: Request, settings: Settings) -> tuple[dict[str, Any], list[inputs.Upload], FormData | None]:
    """A JSON body, or multipart with a JSON ``data`` field and ``files`` parts."""
    kind = _media_type(request)
    if kind == "application/json":
        return await _read_json(request, settings), [], None
    if kind == "multipart/form-data":
        form = await _read_form(request, multipart_limit(settings), settings)
        try:
            uploads = _uploads(form, {"data"})
            raw = form.get("data")
            if raw is None:
                raise fail(422, "multipart 请求必须包含 JSON 格式的 data 字段", field="data")
            return _parse_json_object(str(raw), "data 字段"), uploads, form
        except BaseException:
            await _close(form)
            raise
    raise fail(415, "请求类型应为 application/json 或 multipart/form-data")


async def _call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    try:
        return await run_in_threadpool(fn, *args, **kwargs)
    except ServiceError as exc:
        raise _from_service(exc) from exc


def _sync(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except ServiceError as exc:
        raise _from_service(exc) from exc


# --- serialisation -------------------------------------------------------------------------------


def _result_json(res: inputs.SubmitResult) -> dict[str, Any]:
    return {
        "document_id": res.document_id, "index_no": res.index_no,
        "due_date": res.due_date.isoformat() if res.due_date else None, "due_note": res.due_note,
        "due_date_provisional": res.due_date_provisional,
        "delivery_ids": res.delivery_ids, "warnings": res.warnings,
        "url": f"{router.prefix}/documents/{res.document_id}",
    }


# --- documents -----------------------------------------------------------------------------------

_SUBMIT_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": inputs.SubmitRequest.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object", "required": ["data"],
                    "properties": {
                        "data": {"type": "string", "description": "与 JSON 提交相同字段的 JSON 文本"},
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                    },
                }
            },
        },
    }
}


def _entry_for(req: inputs.SubmitRequest) -> CatalogEntryRow:
    with session_scope() as session:
        entry = submission.find_entry(session, req.entry, req.publisher)
        session.expunge(entry)
        return entry


@router.post("/documents", status_code=201, summary="登记文件（一次提交，分发到目录事项标明的所有渠道）",
             openapi_extra=_SUBMIT_DOC)
async def submit_document(request: Request, user: User) -> dict[str, Any]:
    require(user, auth.Role.clerk)
    settings = get_settings()
    data, uploads, form = await _body_and_files(request, settings)
    staged: list[inputs.Upload] = []
    try:
        data["submitted_by"] = user.username
        refs = data.pop("staged_attachments", None) or []  # images/PDF kept by POST /documents/import
        if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
            raise fail(422, "应为“sha256/文件名”字符串的列表", field="staged_attachments")
        req = _sync(inputs.parse_submit, data)
        entry = await _call(_entry_for, req)
        _check_office(user, entry)
        staged = _sync(staged_uploads, settings, refs)
        res = await _call(submission.submit, req, uploads + staged, settings=settings, reader=user)
    finally:
        for up in staged:
            up.stream.close()
        await _close(form)
    return _result_json(res)


@router.get("/documents/{document_id}", summary="查看文件：各版本、各渠道投递及每次尝试")
def read_document(document_id: DocumentId, user: User) -> dict[str, Any]:
    with session_scope() as session:
        return document_json(load_document(session, document_id, user))


def _document_entry(document_id: int, user: auth.Principal) -> tuple[CatalogEntryRow, str]:
    with session_scope() as session:
        # A document the reader may not see is "not found" for changes too (the web app answers the same).
        doc = access.readable_document(session, user, document_id)
        if doc is None:
            raise fail(404, f"文件 {document_id} 不存在")
        entry = doc.entry
        session.expunge(entry)
        return entry, doc.status


_VERSION_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": inputs.VersionRequest.model_json_schema()},
            "multipart/form-data": {
                "schema": {"type": "object", "required": ["data"],
                           "properties": {"data": {"type": "string"},
                                          "files": {"type": "array", "items": {"type": "string", "format": "binary"}}}}
            },
        },
    }
}


@router.post("/documents/{document_id}/versions", status_code=201, summary="更正：登记新版本（已送达的渠道收到更新）",
             openapi_extra=_VERSION_DOC)
async def new_version(document_id: DocumentId, request: Request, user: User) -> dict[str, Any]:
    require(user, auth.Role.clerk)
    settings = get_settings()
    entry, _ = await run_in_threadpool(_document_entry, document_id, user)
    _check_office(user, entry)
    data, uploads, form = await _body_and_files(request, settings)
    try:
        data["submitted_by"] = user.username
        req = _sync(inputs.parse_version, data)
        res = await _call(versions.new_version, document_id, req, uploads, settings=settings)
    finally:
        await _close(form)
    return _result_json(res)


async def _reason(request: Request, *, required: bool) -> str:
    if _media_type(request) == "application/json":
        data = await _read_json(request, get_settings())
    elif _has_no_body(request):
        data = {}
    else:
        raise fail(415, "请求类型应为 application/json")
    unknown = set(data) - {"reason"}
    if unknown:
        raise fail(422, "不认识的字段", field="、".join(sorted(unknown)))
    reason = data.get("reason", "")
    if not isinstance(reason, str):
        raise fail(422, "应为文字", field="原因")
    if len(reason) > 2000:
        raise fail(422, "过长（上限 2000 字）", field="原因")
    if required and not reason.strip():
        raise fail(422, "必须填写原因", field="原因")
    return reason.strip()


@router.post("/documents/{document_id}/withdraw", summary="撤回文件（已送达的渠道收到撤回，未发出的取消）",
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"example": {"reason": "文件已废止"}}}}})
async def withdraw_document(document_id: DocumentId, request: Request, user: User) -> dict[str, Any]:
    require(user, auth.Role.clerk)
    entry, _ = await run_in_threadpool(_document_entry, document_id, user)
    _check_office(user, entry)
    reason = await _reason(request, required=True)
    res = await _call(versions.withdraw, document_id, reason, user.username)
    return _result_json(res)


@router.post("/documents/{document_id}/event-date", summary="填写事件日期（时限从事件起算的事项），按其计算截止日期",
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"example": {"event_date": "2026-11-20"}}}}})
async def document_event_date(document_id: DocumentId, request: Request, user: User) -> dict[str, Any]:
    require(user, auth.Role.clerk)
    if _media_type(request) != "application/json":
        raise fail(415, "请求类型应为 application/json")
    data = await _read_json(request, get_settings())
    unknown = set(data) - {"event_date"}
    if unknown:
        raise fail(422, "不认识的字段", field="、".join(sorted(str(k)[:40] for k in unknown)))
    return await _call(event_service.enter_event_date, document_id, data.get("event_date"), user)


# --- review chains -------------------------------------------------------------------------------
# Who may act is the chain's rule for the current step (orchestrator.review.chains.refusal: a role, an office, the
# document's responsible office or named users), not a fixed role: the same decisions as the web app's review page
# (orchestrator.documents.review), recorded the same way (a review_actions row each).

REVIEW_BODY_LIMIT = MAX_COMMENT * 6 + 4096  # the longest comment JSON-escaped, plus the other fields
_STEP_SCHEMA = {"type": "integer", "minimum": 0,
                "description": "当前步骤的序号（从 0 开始，见 GET …/review 的 current_step.index）；填写后，若文件已转到其他步骤则返回 409"}
_COMMENT_SCHEMA = {"type": "string", "maxLength": MAX_COMMENT, "description": f"审核意见（不超过 {MAX_COMMENT} 字）"}


def _review_doc(example: dict[str, Any], properties: dict[str, Any], required: list[str] | None = None,
                body_required: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": properties}
    if required:
        schema["required"] = required
    return {"requestBody": {"required": body_required, "content": {"application/json": {
        "schema": schema, "example": example}}}}


async def _review_body(request: Request, allowed: set[str]) -> dict[str, Any]:
    """A decision's JSON body (or none): the listed fields only."""
    if _media_type(request) == "application/json":
        data = await _read_json(request, get_settings(), limit=REVIEW_BODY_LIMIT)
    elif _has_no_body(request):
        data = {}
    else:
        raise fail(415, "请求类型应为 application/json")
    unknown = set(data) - allowed
    if unknown:
        raise fail(422, "不认识的字段", field="、".join(sorted(str(k)[:40] for k in unknown)[:10]))
    return data


def _review_step(data: dict[str, Any]) -> int | str | None:
    step = data.get("step")
    if step is None or step == "":
        return None
    if isinstance(step, bool) or not isinstance(step, int | str) or (isinstance(step, str) and len(step) > 10):
        raise fail(422, "应为步骤序号（整数，从 0 开始）", field="审核步骤")
    return step  # range and staleness: the chain's own checks (422 审核步骤不存在, 409 审核步骤已变化)


def _review_text(data: dict[str, Any], key: str, label: str, *, required: bool = False) -> str:
    value = data.get(key)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise fail(422, "应为文字", field=label)
    value = value.strip()
    if len(value) > MAX_COMMENT:
        raise fail(422, f"过长（上限 {MAX_COMMENT} 字，当前 {len(value)} 字）", field=label)
    if required and not value:
        raise fail(422, f"必须填写{label}", field=label)
    return value


def _readable(document_id: int, user: auth.Principal) -> None:
    with session_scope() as session:
        # Another office's document is "not found" to a clerk, for decisions too (the web app answers the same).
        if not access.may_read(session, user, document_id):
            raise fail(404, f"文件 {document_id} 不存在")


def _review_state(document_id: int, user: auth.Principal) -> dict[str, Any]:
    with session_scope() as session:
        doc = access.readable_document(session, user, document_id, selectinload(Document.entry),
                                       selectinload(Document.versions))
        if doc is None:
            raise fail(404, f"文件 {document_id} 不存在")
        return review_views.review_json(session, doc, user)


async def _decided(document_id: int, user: auth.Principal, message: str, **extra: Any) -> dict[str, Any]:
    state = await run_in_threadpool(_review_state, document_id, user)
    return {"document_id": document_id, **extra, "status": state["document_status"], "message": message,
            "review": state}


@router.get("/documents/{document_id}/review", summary="审核状态与审核记录：当前步骤、谁可办理、每一次审核操作（谁、何时、哪一步、结果、意见、版本）")
def read_review(document_id: DocumentId, user: User) -> dict[str, Any]:
    return _review_state(document_id, user)


@router.post("/documents/{document_id}/approve",
             summary="审核通过当前步骤（谁可办理由审核流程的该步骤规定；最后一步通过后才开始发布）",
             openapi_extra=_review_doc({"step": 0, "comment": "同意"},
                                       {"step": _STEP_SCHEMA, "comment": _COMMENT_SCHEMA}))
async def approve_document(document_id: DocumentId, request: Request, user: User) -> dict[str, Any]:
    await run_in_threadpool(_readable, document_id, user)
    data = await _review_body(request, {"step", "comment"})
    step, comment = _review_step(data), _review_text(data, "comment", "审核意见")
    ids = await _call(review.approve, document_id, user.username, principal=user, step=step, comment=comment)
    message = await _call(review.approve_summary, document_id, ids)
    return await _decided(document_id, user, message, delivery_ids=ids)


@router.post("/documents/{document_id}/send-back",
             summary="退回：退回经办人修改，或退回之前的审核步骤重新审核（须填写退回意见；谁可办理由审核流程规定）",
             openapi_extra=_review_doc(
                 {"step": 2, "comment": "请核对附件", "target": "clerk"},
                 {"step": _STEP_SCHEMA, "comment": {**_COMMENT_SCHEMA, "description": f"退回意见（必填，不超过 {MAX_COMMENT} 字）"},
                  "target": {"oneOf": [{"type": "string", "maxLength": 60}, {"type": "integer", "minimum": 0}],
                             "description": "退回给谁：clerk（经办人，默认），或之前某一步骤的序号或名称"}},
                 required=["comment"], body_required=True))
async def send_back_document(document_id: DocumentId, request: Request, user: User) -> dict[str, Any]:
    await run_in_threadpool(_readable, document_id, user)
    data = await _review_body(request, {"step", "comment", "target"})
    step, comment = _review_step(data), _review_text(data, "comment", "退回意见", required=True)
    target = data.get("target", "clerk")
    if target is None:
        target = "clerk"
    if isinstance(target, bool) or not isinstance(target, int | str) or (isinstance(target, str) and len(target) > 60):
        raise fail(422, "应为 clerk（经办人）或之前某一步骤的序号或名称", field="退回给")
    message = await _call(review.send_back, document_id, user, step=step, comment=comment, target=target)
    return await _decided(document_id, user, message)


@router.post("/documents/{document_id}/reject",
             summary="审核不通过（须填写原因；文件不会发布，登记新版本后重新审核；谁可办理由审核流程规定）",
             openapi_extra=_review_doc(
                 {"step": 0, "reason": "含有不宜公开的内容"},
                 {"step": _STEP_SCHEMA,
                  "reason": {**_COMMENT_SCHEMA, "description": f"不通过的原因（必填，不超过 {MAX_COMMENT} 字）"},
                  "comment": {**_COMMENT_SCHEMA, "description": "同 reason（二者填一个）"}},
                 body_required=True))
async def reject_document(document_id: DocumentId, request: Request, user: User) -> dict[str, Any]:
    await run_in_threadpool(_readable, document_id, user)
    data = await _review_body(request, {"step", "reason", "comment"})
    step = _review_step(data)
    reason, comment = _review_text(data, "reason", "原因"), _review_text(data, "comment", "原因")
    if reason and comment and reason != comment:
        raise fail(422, "reason 与 comment 只能填写一个", field="原因")
    reason = reason or comment
    if not reason:
        raise fail(422, "必须填写原因", field="原因")
    await _call(review.reject, document_id, user.username, reason, principal=user, step=step)
    return await _decided(document_id, user, "已作出审核不通过的决定，文件不会发布")


def _approval_form(document_id: int, user: auth.Principal) -> export.ApprovalForm:
    with session_scope() as session:
        doc = access.readable_document(session, user, document_id, selectinload(Document.entry),
                                       selectinload(Document.versions), selectinload(Document.publisher))
        if doc is None:
            raise fail(404, f"文件 {document_id} 不存在")
        return review_views.approval_form(session, doc)


def _file(data: bytes, media: str, name: str) -> Response:
    return Response(data, media_type=media, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}", "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store"})


def _binary(media: str, what: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"description": what, "content": {media: {"schema": {"type": "string", "format": "binary"}}}}}


@router.get("/documents/{document_id}/approval.docx", summary="下载审批单（Word，含每一次审核操作）",
            response_class=Response, responses=_binary(review_views.DOCX_MEDIA, "审批单（docx）"))
def approval_docx(document_id: DocumentId, user: User) -> Response:
    form = _approval_form(document_id, user)
    return _file(review_views.approval_docx(form), review_views.DOCX_MEDIA,
                 review_views.approval_filename(form, "docx"))


@router.get("/documents/{document_id}/approval.pdf", summary="下载审批单（PDF，含每一次审核操作；本机无浏览器时返回 503）",
            response_class=Response, responses={**_binary("application/pdf", "审批单（PDF）"), 503: ERROR_SCHEMA})
def approval_pdf(document_id: DocumentId, user: User) -> Response:
    form = _approval_form(document_id, user)
    try:
        pdf = review_views.approval_pdf(form)
    except export.PdfUnavailable as exc:
        raise fail(503, str(exc)) from exc
    return _file(pdf, "application/pdf", review_views.approval_filename(form, "pdf"))


# --- deliveries ----------------------------------------------------------------------------------


def _encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"d:{last_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, value = raw.split(":", 1)
        if kind != "d" or not value.isdigit() or not 0 < int(value) <= MAX_ID + 1:
            raise ValueError
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise fail(422, "游标无效（请使用上一页返回的 next_cursor）", field="游标") from None


@router.get("/deliveries", summary="投递列表（按渠道、状态、发布机构、科室、目录事项、日期筛选；分页）")
def list_deliveries(
    user: User,
    channel: Annotated[str | None, Query(description="渠道编码，多个用逗号分隔")] = None,
    status: Annotated[str | None, Query(description="状态，多个用逗号分隔")] = None,
    action: Annotated[str | None, Query(description="publish / update / withdraw")] = None,
    publisher: Annotated[str | None, Query(max_length=200, description="发布机构名称")] = None,
    office: Annotated[str | None, Query(max_length=200, description="责任科室")] = None,
    entry: Annotated[str | None, Query(max_length=400, description="目录事项编码或路径")] = None,
    document_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    created_from: Annotated[dt.date | None, Query(description="创建日期起（含），YYYY-MM-DD，北京时间")] = None,
    created_to: Annotated[dt.date | None, Query(description="创建日期止（含），YYYY-MM-DD，北京时间")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    cursor: Annotated[str | None, Query(max_length=100, description="上一页返回的 next_cursor（与 offset 二选一）")] = None,
) -> dict[str, Any]:
    if cursor and offset:
        raise fail(422, "offset 与 cursor 只能用一个", field="游标")
    base = delivery_filters(select(Delivery), channel=channel, status=status, action=action, publisher=publisher,
                             office=office, entry=entry, document_id=document_id, created_from=created_from,
                             created_to=created_to)
    with session_scope() as session:
        if access.limited_by_office(user):
            base = base.where(Delivery.document_id.in_(select(Document.id).where(access.document_filter(session, user))))
        total = session.scalar(select(func.count()).select_from(base.order_by(None).subquery()))
        q = base.order_by(Delivery.id.desc()).limit(limit)
        q = q.where(Delivery.id < _decode_cursor(cursor)) if cursor else q.offset(offset)
        rows = list(session.scalars(q))
        items = [delivery_json(d) for d in rows]
    next_cursor = _encode_cursor(rows[-1].id) if len(rows) == limit else None
    return {"total": total, "limit": limit, "offset": 0 if cursor else offset, "next_cursor": next_cursor, "items": items}


@router.get("/deliveries/{delivery_id}", summary="查看一条投递（含每次尝试与状态变化）")
def read_delivery(delivery_id: DeliveryId, user: User) -> dict[str, Any]:
    with session_scope() as session:
        d = access.readable_delivery(session, user, delivery_id)
        if d is None:
            raise fail(404, f"投递 {delivery_id} 不存在")
        return delivery_json(d, detail=True)


def _confirmable(delivery_id: int) -> None:
    with session_scope() as session:
        d = session.get(Delivery, delivery_id)
        if d is None:
            raise fail(404, f"投递 {delivery_id} 不存在")
        if d.status != DeliveryStatus.awaiting_confirmation:
            raise fail(409, f"投递当前状态为“{STATUS_LABELS.get(d.status, d.status)}”，无需确认")


@router.post("/deliveries/{delivery_id}/retry", summary="重试失败/未配置/已取消的投递（运维）")
async def retry_delivery(delivery_id: DeliveryId, user: User) -> dict[str, Any]:
    require(user, auth.Role.ops)
    await _call(deliveries.retry_delivery, delivery_id, user.username)
    return await run_in_threadpool(read_delivery, delivery_id, user)


@router.post("/deliveries/{delivery_id}/cancel", summary="取消投递（运维）")
async def cancel_delivery(delivery_id: DeliveryId, request: Request, user: User) -> dict[str, Any]:
    require(user, auth.Role.ops)
    reason = await _reason(request, required=False)
    await _call(deliveries.cancel_delivery, delivery_id, user.username, reason)
    return await run_in_threadpool(read_delivery, delivery_id, user)


_CONFIRM_FIELDS = {"by", "note", "url", "when"}


def confirm_fields(data: dict[str, Any]) -> tuple[str | None, str, str | None, dt.datetime | None]:
    unknown = set(data) - _CONFIRM_FIELDS
    if unknown:
        raise fail(422, "不认识的字段", field="、".join(sorted(unknown)))
    errors = []
    for key in ("by", "note", "url", "when"):
        if key in data and data[key] is not None and not isinstance(data[key], str):
            errors.append({"field": key, "message": "应为文字"})
    if not errors and inputs.find_nul(data):
        errors.append({"field": "", "message": f"确认信息{NUL_MESSAGE}"})
    if errors:
        raise HTTPException(422, detail=errors)
    by = (data.get("by") or "").strip() or None
    note = (data.get("note") or "").strip()
    url = (data.get("url") or "").strip() or None
    when = None
    if by and len(by) > 100:
        errors.append({"field": "经办人", "message": "过长（上限 100 字）"})
    if len(note) > 2000:
        errors.append({"field": "说明", "message": "过长（上限 2000 字）"})
    if url and (not re.match(r"^https?://[^\s]+$", url) or len(url) > 2000):
        errors.append({"field": "链接", "message": "链接应以 http:// 或 https:// 开头"})
    if data.get("when"):
        try:
            when = dt.datetime.fromisoformat(data["when"])
            if when.tzinfo is None:
                when = when.replace(tzinfo=TZ)
            if not inputs.date_in_range(when.date()):
                raise ValueError
        except ValueError:
            errors.append({"field": "完成时间", "message": "时间格式不正确（如 2026-11-02T10:00:00+08:00）"})
    if errors:
        raise HTTPException(422, detail=errors)
    return by, note, url, when


@router.post(
    "/deliveries/{delivery_id}/confirm", summary="确认人工渠道已完成（运维；可附凭证文件和链接）",
    openapi_extra={"requestBody": {"content": {
        "application/json": {"example": {"by": "张三", "note": "已在公开查阅点放置纸质文件", "url": None}},
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "by": {"type": "string"}, "note": {"type": "string"}, "url": {"type": "string"}, "when": {"type": "string"},
            "evidence": {"type": "string", "format": "binary"}}}},
    }}},
)
async def confirm_delivery(delivery_id: DeliveryId, request: Request, user: User) -> dict[str, Any]:
    require(user, auth.Role.ops)
    settings = get_settings()
    kind = _media_type(request)
    form: FormData | None = None
    evidence: inputs.Upload | None = None
    try:
        if kind in ("multipart/form-data", "application/x-www-form-urlencoded"):
            form = await _read_form(request, settings.max_attachment_bytes + JSON_OVERHEAD, settings)
            data: dict[str, Any] = {}
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    if key != "evidence" or evidence is not None:
                        raise fail(422, "凭证文件字段应为 evidence，且只能有一个", field="凭证")
                    evidence = inputs.Upload(value.filename or "", value.file)
                else:
                    data[key] = value
        elif kind == "application/json":
            data = await _read_json(request, settings)
        elif _has_no_body(request):
            data = {}
        else:
            raise fail(415, "请求类型应为 application/json 或 multipart/form-data")
        by, note, url, when = confirm_fields(data)
        # Check the row before storing evidence, so a wrong id or state stores nothing.
        await run_in_threadpool(_confirmable, delivery_id)
        await _call(deliveries.confirm_delivery, delivery_id, by or user.name, note, when, evidence, url, settings=settings)
    finally:
        await _close(form)
    return await run_in_threadpool(read_delivery, delivery_id, user)


# --- catalog -------------------------------------------------------------------------------------


@router.get("/catalog/entries", summary="目录事项列表")
def list_entries(
    user: User,
    publisher: Annotated[str | None, Query(max_length=200)] = None,
    office: Annotated[str | None, Query(max_length=200, description="只列出该科室负责的事项")] = None,
    channel: Annotated[str | None, Query(max_length=40)] = None,
    q: Annotated[str | None, Query(max_length=100, description="按路径或内容搜索")] = None,
    mine: Annotated[bool, Query(description="只列出我所在科室负责的事项")] = False,
    include_inactive: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    stmt = select(CatalogEntryRow).join(Publisher).options(selectinload(CatalogEntryRow.publisher))
    if not include_inactive:
        stmt = stmt.where(CatalogEntryRow.active.is_(True))
    if publisher:
        stmt = stmt.where(Publisher.name == publisher.strip())
    if q:
        like = f"%{q.strip()}%"
        stmt = stmt.where(or_(CatalogEntryRow.path_text.like(like), CatalogEntryRow.content.like(like),
                              CatalogEntryRow.code == q.strip()))
    with session_scope() as session:
        rows = list(session.scalars(stmt.order_by(Publisher.name, CatalogEntryRow.id)))
        # Offices and channels are JSON lists: filtered here, portably across PostgreSQL and SQLite.
        want_office = user.office if mine else (office.strip() if office else None)
        if want_office:
            rows = [r for r in rows if want_office in (r.offices or [])]
        if channel:
            rows = [r for r in rows if channel in (r.channels or [])]
        items = [entry_json(r) for r in rows[offset:offset + limit]]
    return {"total": len(rows), "limit": limit, "offset": offset, "items": items}


@router.get("/catalog/due-date", summary="预览公开期限：按目录事项的时限规则和工作日历计算")
def due_date_preview(
    user: User,
    entry: Annotated[str, Query(min_length=1, max_length=400, description="目录事项编码或路径")],
    formed_on: Annotated[dt.date, Query(description="生成日期或事件日期，YYYY-MM-DD")],
    publisher: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    if not inputs.date_in_range(formed_on):
        raise fail(422, DATE_RANGE_MESSAGE, field="生成日期")
    with session_scope() as session:
        row = _sync(submission.find_entry, session, entry, publisher)
        due, note, provisional = submission.compute_due_info(row, formed_on)
        return {"entry": row.code, "path": list(row.path), "formed_on": formed_on.isoformat(),
                "time_limit": row.time_limit, "due_date": due.isoformat() if due else None,
                "due_date_provisional": provisional, "explanation": note}


@router.get("/me", summary="当前令牌对应的用户")
def whoami(user: User) -> dict[str, Any]:
    return {"username": user.username, "display_name": user.display_name, "role": user.role.value,
            "role_label": auth.ROLE_LABELS[user.role], "office": user.office}

