"""Submit once: the document operations behind the REST API, the CLI and the web form.

Every function validates first (messages a clerk understands), then writes in **one transaction**, and only
after the commit hands delivery ids to the broker (``fanout.enqueue``). A lost hand-off is repaired by the sweeper.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO, Literal, NamedTuple
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import Integer, String, Text, bindparam, case, cast, func, insert, literal, or_, select, true, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, contains_eager

from channels.base import Channel, DocumentPayload, PermanentError
from channels.registry import ChannelRegistry
from orchestrator.access import may_read
from orchestrator.auth import Principal
from orchestrator.calendar import CalendarError, default_calendar, due_date
from orchestrator.catalog.channel_map import load_channel_map
from orchestrator.catalog.schema import TimeLimit
from orchestrator.checks import gate as content_checks
from orchestrator.db import session_scope
from orchestrator.delivery.fanout import enqueue, publish, registry
from orchestrator.documents import attachments as att
from orchestrator.documents import events
from orchestrator.documents.content import content_hash, find_personal_data, plain_text, render_body
from orchestrator.models import (
    DONE_STATUSES,
    OPEN_STATUSES,
    Attachment,
    CatalogEntryRow,
    Delivery,
    DeliveryStatus,
    DeliveryTransition,
    Document,
    DocumentStatus,
    DocumentVersion,
    IndexSequence,
    Publisher,
    utcnow,
)
from orchestrator.review import chains as review_chains
from orchestrator.settings import Settings, get_settings


@dataclass
class FieldError:
    field: str
    message: str


class ServiceError(Exception):
    """A refused request. ``errors`` name the fields; messages are Chinese, for the clerk."""

    def __init__(self, errors: list[FieldError] | str, *, status: int = 422):
        if isinstance(errors, str):
            errors = [FieldError("", errors)]
        self.errors = errors
        self.status = status
        super().__init__("；".join(f"{e.field + '：' if e.field else ''}{e.message}" for e in errors))


class NotFound(ServiceError):
    def __init__(self, message: str):
        super().__init__(message, status=404)


class Conflict(ServiceError):
    def __init__(self, message: str):
        super().__init__(message, status=409)


# Ids fit a PostgreSQL ``integer`` (and SQLite's 64-bit one): larger numbers are refused as input, not sent to the DB.
MAX_ID = 2**31 - 1
# Dates and times a person can mean: later arithmetic (deadlines, time zones, "the day after") stays in range.
DATE_MIN = dt.date(1949, 10, 1)
DATE_MAX = dt.date(2100, 12, 31)
NUL_MESSAGE = "不能包含空字符（\\0）"


def date_in_range(v: dt.date) -> bool:
    return DATE_MIN <= v <= DATE_MAX


def _date_range_text() -> str:
    return f"日期超出可受理的范围（{DATE_MIN.isoformat()} 至 {DATE_MAX.isoformat()}）"


def find_nul(value: object) -> bool:
    """True if any string (or key) anywhere in a JSON-like value contains a NUL character (iterative: any depth)."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if "\x00" in v:
                return True
        elif isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, (list, tuple)):
            stack.extend(v)
    return False


class _NoNul(BaseModel):
    """Text with NUL characters is refused on every database alike (PostgreSQL cannot store it)."""

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: object) -> object:
        if isinstance(data, dict):
            for key, value in data.items():
                if find_nul(value) or find_nul(key):
                    raise PydanticCustomError("nul_char", NUL_MESSAGE, {"field": str(key)})
        return data


class SubmitRequest(_NoNul):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    entry: str = Field(min_length=1, max_length=400, description="目录事项：编码或路径（一级/二级[/三级]）")
    publisher: str | None = Field(default=None, max_length=200)
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=2_000_000)
    body_format: Literal["html", "markdown"] = "html"
    doc_number: str = Field(default="", max_length=200, description="文号")
    formed_on: dt.date = Field(description="生成日期")
    # Entries whose time limit counts from an event (批复, 公示期满 …): the event's date; may be given later.
    event_date: dt.date | None = Field(default=None, description="事件日期（时限从事件起算的事项）")
    publish_at: dt.datetime | None = None
    display_from: dt.datetime | None = None
    display_until: dt.datetime | None = None
    related_document_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    # 解读: this document interprets the related policy document (政策解读 ↔ 政策文件); 相关: just related.
    related_kind: Literal["解读", "相关"] | None = Field(default=None, description="关联方式：解读 或 相关")
    summary: str = Field(default="", max_length=500)
    validity: Literal["有效", "已修订", "已废止", "已失效"] = Field(default="有效", description="有效性")
    validity_date: dt.date | None = Field(default=None, description="有效性变化的日期（已修订/已废止/已失效时必填）")
    subject_words: str = Field(default="", max_length=200, description="主题词（空格或、分隔）")
    confirm_personal_data: bool = False
    confirm_content_warnings: bool = False  # the submitter checked the content-check warnings (警告)
    # Per-channel overrides, e.g. {"wechat": {"title": "不超过32字的短标题"}}.
    channel_options: dict[str, dict[str, str]] = Field(default_factory=dict)
    submitted_by: str = Field(default="", max_length=100)

    @field_validator("publish_at", "display_from", "display_until")
    @classmethod
    def _aware(cls, v: dt.datetime | None) -> dt.datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("时间必须带时区（例如 2026-12-01T09:00:00+08:00）")
        if v is not None and not date_in_range(v.date()):
            raise ValueError(_date_range_text())
        return v

    @field_validator("formed_on", "event_date")
    @classmethod
    def _plausible_date(cls, v: dt.date | None) -> dt.date | None:
        if v is not None and not date_in_range(v):
            raise ValueError(_date_range_text())
        return v


class VersionRequest(_NoNul):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str | None = Field(default=None, min_length=1, max_length=200)
    body: str | None = Field(default=None, min_length=1, max_length=2_000_000)
    body_format: Literal["html", "markdown"] = "html"
    doc_number: str | None = Field(default=None, max_length=200)
    change_note: str = Field(default="", max_length=1000)
    keep_attachments: bool = True
    confirm_personal_data: bool = False
    confirm_content_warnings: bool = False
    # Per-channel overrides for this and later versions, merged over the submission's (e.g. a new WeChat short title).
    channel_options: dict[str, dict[str, str]] = Field(default_factory=dict)
    submitted_by: str = Field(default="", max_length=100)


@dataclass
class Upload:
    filename: str
    stream: BinaryIO


@dataclass
class SubmitResult:
    document_id: int
    index_no: str
    due_date: dt.date | None
    due_note: str
    delivery_ids: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    due_date_provisional: bool = False  # 暂估: counted through a year without an official holiday schedule


def _pydantic_errors(exc: ValidationError) -> list[FieldError]:
    labels = {"entry": "目录事项", "title": "标题", "body": "正文", "formed_on": "生成日期", "doc_number": "文号",
              "publish_at": "定时发布时间", "display_from": "展示开始", "display_until": "展示结束",
              "related_document_id": "关联文件", "related_kind": "关联方式", "validity": "有效性", "validity_date": "有效性日期",
              "subject_words": "主题词", "event_date": "事件日期"}
    out = []
    for e in exc.errors():
        name = str(e["loc"][0]) if e["loc"] else ""
        kind = e["type"]
        ctx = e.get("ctx") or {}
        if kind == "nul_char":
            name, msg = str(ctx.get("field", "")), NUL_MESSAGE
        elif kind == "missing":
            msg = "必填"
        elif kind in {"string_too_short"}:
            msg = "不能为空"
        elif kind == "string_too_long":
            msg = f"过长（上限 {e['ctx']['max_length']} 字）"
        elif kind.startswith("date") or kind.startswith("datetime"):
            msg = "日期格式不正确（应为 YYYY-MM-DD）" if kind.startswith("date_") else "时间格式不正确"
        elif kind == "extra_forbidden":
            msg = "不认识的字段"
        elif kind == "value_error":
            msg = str(e["msg"]).removeprefix("Value error, ")
        elif kind in {"less_than_equal", "less_than"}:
            msg = f"不能大于 {ctx.get('le', ctx.get('lt'))}"
        elif kind in {"greater_than_equal", "greater_than"}:
            msg = f"不能小于 {ctx.get('ge', ctx.get('gt'))}"
        elif kind.startswith("int"):
            msg = "应为整数"
        else:
            msg = f"取值不正确（{e['msg']}）"
        out.append(FieldError(labels.get(name, name), msg))
    return out


def parse_submit(data: dict) -> SubmitRequest:
    try:
        return SubmitRequest.model_validate(data)
    except ValidationError as exc:
        raise ServiceError(_pydantic_errors(exc)) from exc


def parse_version(data: dict) -> VersionRequest:
    try:
        return VersionRequest.model_validate(data)
    except ValidationError as exc:
        raise ServiceError(_pydantic_errors(exc)) from exc


def today_local() -> dt.date:
    """Today in Beijing: 生成日期 and due dates are Chinese calendar days."""
    return dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()


def formed_on_in_future(formed_on: dt.date, today: dt.date | None = None) -> str:
    """The refusal for a 生成日期 after today (empty when it is fine). A document is registered once it exists;
    a later publication time is what 定时发布 is for."""
    today = today or today_local()
    if formed_on <= today:
        return ""
    return (f"生成日期 {formed_on.isoformat()} 晚于今天（{today.isoformat()}）：只能登记已经形成的信息。"
            "如需在以后某个时间发布，请填写今天或实际形成日期，并使用“定时发布”设置发布时间")


def find_entry(session: Session, ref: str, publisher: str | None = None) -> CatalogEntryRow:
    ref = ref.strip().strip("/")
    q = select(CatalogEntryRow).join(Publisher).options(contains_eager(CatalogEntryRow.publisher)).where(
        CatalogEntryRow.active.is_(True), or_(CatalogEntryRow.code == ref, CatalogEntryRow.path_text == ref)
    )
    if publisher:
        q = q.where(Publisher.name == publisher)
    rows = list(session.scalars(q))
    if not rows:
        raise ServiceError([FieldError("目录事项", f"找不到目录事项“{ref}”（请填写编码或“一级/二级”路径）")])
    if len(rows) > 1:
        publishers = sorted({r.publisher.name for r in rows})
        if len(publishers) > 1:
            msg = f"“{ref}”在多个发布机构的目录中都有（{'、'.join(publishers)}），请指定发布机构"
        else:
            codes = "、".join(f"{r.code}（{(r.time_limit or {}).get('text') or r.content[:20]}）" for r in rows)
            msg = f"“{ref}”对应多个目录条目：{codes}，请用编码指定"
        raise ServiceError([FieldError("目录事项", msg)])
    return rows[0]


class DueInfo(NamedTuple):
    date: dt.date | None
    note: str
    provisional: bool


def compute_due(entry: CatalogEntryRow, start: dt.date) -> tuple[dt.date | None, str]:
    info = compute_due_info(entry, start)
    return info.date, info.note


def compute_due_info(entry: CatalogEntryRow, start: dt.date) -> DueInfo:
    """The due date, how it was counted (Chinese), and whether it is provisional (暂估)."""
    cal = default_calendar()
    try:
        cal.overrides  # noqa: B018 - re-reads stale tables, so the memo key below sees a new version
    except CalendarError as exc:
        return DueInfo(None, f"无法自动计算截止日期：{exc}", False)
    # Pure in (rule, start, holiday tables): memoised, keyed on the tables' version so a reload is seen.
    return _compute_due(json.dumps(entry.time_limit or {}, sort_keys=True, ensure_ascii=False), start,
                        (id(cal), cal.version))


@lru_cache(maxsize=4096)
def _compute_due(rule_json: str, start: dt.date, _tables: tuple[int, int]) -> DueInfo:
    rule = TimeLimit.model_validate(json.loads(rule_json))
    try:
        due = due_date(rule, start)
    except CalendarError as exc:
        return DueInfo(None, f"无法自动计算截止日期：{exc}", False)
    return DueInfo(due.date, due.explanation, due.provisional)


def _allocate_index_no(session: Session, publisher: Publisher, year: int) -> str:
    """Gap-free per publisher and year: the counter row is locked until the submit transaction commits.

    One upsert (first number of the year, or the next one) instead of insert-if-missing then update."""
    dialect = session.get_bind().dialect.name
    upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = upsert(IndexSequence).values(publisher_id=publisher.id, year=year, last_value=1)
    value = session.execute(
        stmt.on_conflict_do_update(index_elements=[IndexSequence.publisher_id, IndexSequence.year],
                                   set_={"last_value": IndexSequence.last_value + 1})
        .returning(IndexSequence.last_value)
    ).scalar_one()
    prefix = publisher.index_prefix or f"P{publisher.id:04d}"
    return f"{prefix}/{year}-{value:05d}"


def _registry(settings: Settings) -> ChannelRegistry:
    return registry(settings)  # parsed once per file change, not per submission


def _precheck(settings: Settings, channels: list[str], payload_kwargs: dict, channel_options: dict) -> list[FieldError]:
    """Ask each configured adapter whether it would refuse this document (limits are checked before anything is sent)."""
    registry = _registry(settings)
    errors = []
    for channel in channels:
        for dest in registry.destinations(channel):
            try:
                adapter = registry.adapter_for(dest)
            except PermanentError:
                continue  # not configured: the delivery will say so, visibly
            if type(adapter).precheck is Channel.precheck:
                continue  # the adapter has no limits to check
            extra = dict(channel_options.get(channel, {}))
            payload = DocumentPayload(**payload_kwargs, extra={"channel_options": extra})
            for problem in adapter.precheck(payload):
                errors.append(FieldError(_channel_field(channel), problem))
    return errors


def _channel_field(channel: str) -> str:
    """The field name a clerk reads for a channel's refusal: its Chinese name, never the code."""
    try:
        label = load_channel_map().labels.get(channel, "")
    except Exception:  # noqa: BLE001 - a broken mapping file must not hide the refusal itself
        label = ""
    return f"渠道“{label or channel}”"


def _check_body(source: str, fmt: str, confirm: bool, settings: Settings) -> tuple[str, list[FieldError], list[str]]:
    html = render_body(source, fmt)
    errors: list[FieldError] = []
    warnings: list[str] = []
    if not plain_text(html) and "<img" not in html:
        errors.append(FieldError("正文", "正文为空（去除不安全内容后没有文字）"))
    if len(source) > settings.max_body_chars:
        errors.append(FieldError("正文", f"正文过长（上限 {settings.max_body_chars} 字符）"))
    hits = find_personal_data(html)
    if hits:
        listing = "、".join(f"{h.label} {h.masked}" for h in hits)
        if confirm:
            warnings.append(f"正文含个人信息（{listing}），提交人已确认可以公开")
        else:
            errors.append(FieldError("正文", f"正文疑似含有个人信息：{listing}。请删除，或确认可以公开后再提交"))
    return html, errors, warnings


def _store_uploads(settings: Settings, uploads: list[Upload]) -> list[att.StoredAttachment]:
    stored, errors = [], []
    try:
        for up in uploads:
            try:
                stored.append(att.store(settings, up.filename, up.stream))
            except att.AttachmentError as exc:
                errors.append(FieldError("附件", str(exc)))
    except BaseException:
        att.discard(stored)
        raise
    if errors:
        # One refused file refuses the request: the good files it carried leave nothing behind either.
        att.discard(stored)
        raise ServiceError(errors)
    return stored


def _idempotency_key(document_id: int, version: int, channel: str, destination: str, action: str) -> str:
    return f"doc{document_id}-v{version}-{channel}-{destination}-{action}"


def add_transition(session: Session, d: Delivery, to: str, reason: str = "", actor: str = "") -> None:
    session.add(DeliveryTransition(delivery_id=d.id, from_status=d.status, to_status=to, reason=reason[:2000], actor=actor))
    d.status = to


class NewDelivery(NamedTuple):
    id: int
    channel: str
    status: str


_DELIVERIES = Delivery.__table__
_TRANSITIONS = DeliveryTransition.__table__
# Core executemany with RETURNING (one round trip for all rows, ids in parameter order), then one for the transitions.
_INSERT_DELIVERIES = insert(_DELIVERIES).returning(_DELIVERIES.c.id, _DELIVERIES.c.channel, _DELIVERIES.c.status,
                                                   sort_by_parameter_order=True)
_INSERT_TRANSITIONS = insert(_TRANSITIONS)


def _create_deliveries(
    session: Session, settings: Settings, doc: Document, version: DocumentVersion, action: str,
    channels: list[str], follows: dict[tuple[str, str], Delivery] | None = None,
) -> list[NewDelivery]:
    return _insert_deliveries(session, settings, doc.id, version.id, version.version, doc.publish_at, action, channels,
                              {k: d.id for k, d in (follows or {}).items()})


def _insert_deliveries(
    session: Session, settings: Settings, document_id: int, version_id: int, version: int,
    publish_at: dt.datetime | None, action: str, channels: list[str], follows: dict[tuple[str, str], int] | None = None,
) -> list[NewDelivery]:
    registry = _registry(settings)
    now = utcnow()
    embargoed = publish_at is not None and publish_at > now
    # Written as queued: the caller hands it to the broker right after this commits (the sweeper resends it if that
    # hand-off is lost).
    status = DeliveryStatus.scheduled if embargoed and action == "publish" else DeliveryStatus.queued
    rows = [
        {"document_id": document_id, "version_id": version_id, "version": version, "channel": channel,
         "destination": dest.name, "action": action,
         "idempotency_key": _idempotency_key(document_id, version, channel, dest.name, action),
         "status": status, "queued_at": now, "max_attempts": settings.max_attempts,
         "not_before": publish_at if embargoed else None, "follows_id": (follows or {}).get((channel, dest.name)),
         "created_at": now, "updated_at": now}
        for channel in channels
        for dest in registry.destinations(channel)
    ]
    if not rows:
        return []
    out = [NewDelivery(*r) for r in session.execute(_INSERT_DELIVERIES, rows)]
    session.execute(_INSERT_TRANSITIONS, [
        {"delivery_id": d.id, "from_status": "", "to_status": d.status, "reason": "随文件登记创建", "actor": "", "at": now}
        for d in out
    ])
    return out


def relation_errors(session: Session, req: SubmitRequest, reader: Principal | None, errors: list[FieldError]) -> str:
    """Check 关联文件 and 关联方式; returns the kind to store ("" when there is no relation).

    The target must exist and be readable by the submitter (a document the submitter may not read answers like a
    missing one); a 政策解读 must point at the policy itself, never at another interpretation or a withdrawn file."""
    if req.related_document_id is None:
        if req.related_kind:
            errors.append(FieldError("关联文件", f"关联方式为“{req.related_kind}”时请填写关联文件编号"))
        return ""
    kind = req.related_kind or "解读"
    target = session.get(Document, req.related_document_id)
    if target is None or (reader is not None and not may_read(session, reader, target.id)):
        errors.append(FieldError("关联文件", f"关联文件 {req.related_document_id} 不存在"))
        return kind
    if kind == "解读":
        if target.related_document_id is not None and (target.related_kind or "解读") == "解读":
            errors.append(FieldError("关联文件", f"关联文件 {target.id}《{target.title}》本身是政策解读，"
                                                "请关联被解读的政策文件"))
        elif target.status == DocumentStatus.withdrawn:
            errors.append(FieldError("关联文件", f"关联文件 {target.id}《{target.title}》已撤销，不能再为其发布解读"))
    return kind


def submit(data: SubmitRequest | dict, uploads: list[Upload] | None = None, *, settings: Settings | None = None,
           enqueue: bool = True, reader: Principal | None = None) -> SubmitResult:
    """Register a document against a catalog entry and write one delivery per channel destination.

    ``reader``: the submitting user, when a front end submits for one (the 关联文件 must be readable by them)."""
    settings = settings or get_settings()
    req = data if isinstance(data, SubmitRequest) else parse_submit(data)
    with session_scope() as session:
        entry = find_entry(session, req.entry, req.publisher)
        errors: list[FieldError] = []
        if entry.warnings and not entry.channels:
            errors.append(FieldError("目录事项", f"目录事项“{entry.path_text}”未标明公开渠道，需管理员先复核目录"))
        html, body_errors, warnings = _check_body(req.body, req.body_format, req.confirm_personal_data, settings)
        errors += body_errors
        checked = content_checks.at_submission(session, req.title, html, req.confirm_content_warnings)
        errors += [FieldError(f, m) for f, m in checked.errors]
        warnings += checked.warnings
        future = formed_on_in_future(req.formed_on)
        if future:
            errors.append(FieldError("生成日期", future))
        if req.event_date is not None and req.event_date > today_local():
            errors.append(FieldError("事件日期", f"事件日期 {req.event_date.isoformat()} 晚于今天：请在事件发生后填写"))
        if req.display_from and req.display_until and req.display_until <= req.display_from:
            errors.append(FieldError("展示结束", "展示结束时间必须晚于开始时间"))
        related_kind = relation_errors(session, req, reader, errors)
        if req.validity != "有效" and req.validity_date is None:
            errors.append(FieldError("有效性日期", f"有效性为“{req.validity}”时请填写其日期"))
        if req.validity_date is not None and not date_in_range(req.validity_date):
            errors.append(FieldError("有效性日期", _date_range_text()))
        payload_kwargs = dict(
            document_id=0, version=1, index_no="", title=req.title, body_html=html, doc_number=req.doc_number,
            formed_on=req.formed_on, publisher=entry.publisher.name, entry_code=entry.code, entry_path=tuple(entry.path),
        )
        errors += _precheck(settings, list(entry.channels), payload_kwargs, req.channel_options)
        if errors:
            raise ServiceError(errors)
        stored = _store_uploads(settings, uploads or [])
        start = events.due_start(entry, req.formed_on, req.event_date)
        due, due_note, due_provisional = (compute_due_info(entry, start) if start is not None
                                          else DueInfo(None, events.awaiting_note(entry), False))
        resolved_chain = review_chains.resolve(session, entry)  # review chains: the one that applies, if any
        needs_review = resolved_chain is not None
        document = {
            "publisher_id": entry.publisher_id, "entry_id": entry.id, "title": req.title, "formed_on": req.formed_on,
            "office": (entry.offices or [""])[0], "due_date": due, "due_note": due_note,
            "due_date_provisional": due_provisional, "publish_at": req.publish_at,
            "display_from": req.display_from, "display_until": req.display_until,
            "related_document_id": req.related_document_id, "related_kind": related_kind,
            "submitted_by": req.submitted_by,
            "validity": req.validity, "validity_date": req.validity_date, "subject_words": req.subject_words,
            "channel_options": req.channel_options,
            "status": DocumentStatus.pending_review if needs_review else DocumentStatus.active,
        }
        version = {
            "version": 1, "title": req.title, "body_html": html, "body_source": req.body,
            "body_format": req.body_format, "doc_number": req.doc_number, "summary": req.summary,
            "personal_data_confirmed": req.confirm_personal_data, "content_hash": content_hash(req.title, html),
            "created_by": req.submitted_by,
        }
        channels = [] if needs_review else list(entry.channels)
        if session.get_bind().dialect.name == "postgresql":
            document_id, index_no, version_id, deliveries = _write_submission_pg(
                session, settings, entry.publisher, req.formed_on.year, document, version, channels, req.publish_at)
        else:
            index_no = _allocate_index_no(session, entry.publisher, req.formed_on.year)
            # Core inserts (the ORM's unit of work cost more than the statements): document, version, deliveries.
            now = utcnow()
            document_id = session.execute(_INSERT_DOCUMENT, {**document, "index_no": index_no, "created_at": now}).scalar_one()
            version_id = session.execute(_INSERT_VERSION, {**version, "document_id": document_id, "created_at": now}).scalar_one()
            deliveries = _insert_deliveries(session, settings, document_id, version_id, 1, req.publish_at, "publish", channels)
        if stored:
            _insert_attachments(session, version_id, stored)
        content_checks.record(session, document_id, 1, checked, req.submitted_by)
        events.record(session, document_id, entry, req.event_date, req.submitted_by)
        result = SubmitResult(document_id, index_no, due, due_note, [d.id for d in deliveries], warnings, due_provisional)
        if needs_review:
            result.warnings.append(review_chains.start(session, document_id, entry, version=1,
                                                       actor=req.submitted_by, resolved=resolved_chain))
    if enqueue:
        # The rows were written in this transaction (now committed): hand the queued ones over, no query needed.
        _enqueue_new(deliveries)
    return result


def _write_submission_pg(
    session: Session, settings: Settings, publisher: Publisher, year: int, document: dict, version: dict,
    channels: list[str], publish_at: dt.datetime | None,
) -> tuple[int, str, int, list[NewDelivery]]:
    """PostgreSQL: index number, document, version, deliveries and their transition rows in one statement.

    Same rows, same values and the same locking as the portable path (the index counter row stays locked until the
    submit transaction commits), in one round trip instead of five."""
    registry = _registry(settings)
    now = utcnow()
    embargoed = publish_at is not None and publish_at > now
    status = DeliveryStatus.scheduled if embargoed else DeliveryStatus.queued
    dests = [(channel, dest.name) for channel in channels for dest in registry.destinations(channel)]
    params = {
        "s_publisher": publisher.id, "s_year": year,
        "s_prefix": f"{publisher.index_prefix or f'P{publisher.id:04d}'}/{year}-", "s_now": now,
        **{f"d_{k}": v for k, v in document.items()}, **{f"v_{k}": v for k, v in version.items()},
        "l_status": status, "l_max_attempts": settings.max_attempts, "l_not_before": publish_at if embargoed else None,
    }
    for i, (channel, name) in enumerate(dests):
        params.update({f"l{i}_channel": channel, f"l{i}_destination": name,
                       f"l{i}_key": f"-v1-{channel}-{name}-publish"})  # _idempotency_key after "doc<id>"
    rows = session.execute(_submission_statement(tuple(sorted(document)), tuple(sorted(version)), len(dests)),
                           params).all()
    first = rows[0]
    deliveries = sorted(NewDelivery(r.delivery_id, r.channel, r.status) for r in rows if r.delivery_id is not None)
    return first.document_id, first.index_no, first.version_id, deliveries


@lru_cache(maxsize=32)
def _submission_statement(document_keys: tuple[str, ...], version_keys: tuple[str, ...], n_deliveries: int):
    def p(name: str, type_):
        return bindparam(name, type_=type_)

    seqs = IndexSequence.__table__
    seq = (
        postgresql.insert(seqs).values(publisher_id=p("s_publisher", Integer), year=p("s_year", Integer), last_value=1)
        .on_conflict_do_update(index_elements=[seqs.c.publisher_id, seqs.c.year],
                               set_={"last_value": seqs.c.last_value + 1})
        .returning(seqs.c.last_value)
        .cte("seq")
    )
    number = cast(seq.c.last_value, Text)
    docs = Document.__table__
    now = p("s_now", docs.c.created_at.type)
    def consts(table, values: dict) -> tuple[list[str], list]:  # the column defaults, spelled out
        return list(values), [literal(v, table.c[k].type) for k, v in values.items()]

    doc_names, doc_values = consts(docs, {"current_version": 1, "withdraw_reason": ""})
    doc = (
        insert(docs).from_select(
            [*document_keys, "index_no", "created_at", *doc_names],
            select(*(p(f"d_{k}", docs.c[k].type) for k in document_keys),
                   p("s_prefix", Text) + case((func.length(number) < 5, func.lpad(number, 5, "0")), else_=number),
                   now, *doc_values).select_from(seq), include_defaults=False)
        .returning(docs.c.id, docs.c.index_no)
        .cte("doc")
    )
    versions = DocumentVersion.__table__
    ver_names, ver_values = consts(versions, {"change_note": ""})
    ver = (
        insert(versions).from_select(
            [*version_keys, "document_id", "created_at", *ver_names],
            select(*(p(f"v_{k}", versions.c[k].type) for k in version_keys), doc.c.id, now, *ver_values)
            .select_from(doc), include_defaults=False)
        .returning(versions.c.id, versions.c.document_id)
        .cte("ver")
    )
    if not n_deliveries:
        return select(doc.c.id.label("document_id"), doc.c.index_no, ver.c.id.label("version_id"),
                      literal(None, Integer).label("delivery_id"), literal(None, String).label("channel"),
                      literal(None, String).label("status")).select_from(doc.join(ver, true()))
    dl_t = Delivery.__table__
    dl_names, dl_values = consts(dl_t, {
        "attempts": 0, "lease_owner": "", "last_error": "", "error_class": "", "receipt": {}, "checkpoint": {},
        "confirmed_by": "", "confirmation_note": "", "evidence_sha256": "", "evidence_filename": ""})
    dests = union_all(*(
        select(p(f"l{i}_channel", String).label("channel"), p(f"l{i}_destination", String).label("destination"),
               p(f"l{i}_key", String).label("key_suffix"))
        for i in range(n_deliveries)
    )).cte("dests") if n_deliveries > 1 else select(
        p("l0_channel", String).label("channel"), p("l0_destination", String).label("destination"),
        p("l0_key", String).label("key_suffix")).cte("dests")
    dl = (
        insert(dl_t).from_select(
            ["document_id", "version_id", "version", "channel", "destination", "action", "idempotency_key", "status",
             "queued_at", "max_attempts", "not_before", "created_at", "updated_at", *dl_names],
            select(ver.c.document_id, ver.c.id, literal(1, Integer), dests.c.channel, dests.c.destination,
                   literal("publish", String),
                   literal("doc", Text) + cast(ver.c.document_id, Text) + dests.c.key_suffix,
                   p("l_status", String), now, p("l_max_attempts", Integer), p("l_not_before", dl_t.c.not_before.type),
                   now, now, *dl_values).select_from(ver.join(dests, true())), include_defaults=False)
        .returning(dl_t.c.id, dl_t.c.channel, dl_t.c.status)
        .cte("dl")
    )
    transitions = insert(_TRANSITIONS).from_select(
        ["delivery_id", "from_status", "to_status", "reason", "actor", "at"],
        select(dl.c.id, literal("", String), dl.c.status, literal("随文件登记创建", Text), literal("", String), now),
        include_defaults=False,
    ).cte("dl_transitions")
    return (
        select(doc.c.id.label("document_id"), doc.c.index_no, ver.c.id.label("version_id"),
               dl.c.id.label("delivery_id"), dl.c.channel, dl.c.status)
        .select_from(doc.join(ver, true()).join(dl, true()))
        .add_cte(transitions)
    )


_INSERT_DOCUMENT = insert(Document.__table__).returning(Document.__table__.c.id)
_INSERT_VERSION = insert(DocumentVersion.__table__).returning(DocumentVersion.__table__.c.id)


def _insert_attachments(session: Session, version_id: int, stored: list[att.StoredAttachment]) -> None:
    session.execute(insert(Attachment.__table__), [
        {"version_id": version_id, "position": i, "filename": s.filename, "content_type": s.content_type,
         "size": s.size, "sha256": s.sha256}
        for i, s in enumerate(stored)
    ])


def _add_attachments(session: Session, version: DocumentVersion, stored: list[att.StoredAttachment]) -> None:
    for i, s in enumerate(stored):
        session.add(Attachment(version_id=version.id, position=i, filename=s.filename, content_type=s.content_type,
                               size=s.size, sha256=s.sha256))


def _enqueue(ids: list[int], *, fresh: bool = True) -> None:
    if not ids:
        return

    try:
        enqueue(ids, fresh=fresh)
    except Exception:  # the broker is down: the rows are committed, the sweeper will hand them over
        _broker_down(len(ids))


def _enqueue_new(deliveries: list[NewDelivery]) -> None:
    """Publish the deliveries a just-committed transaction wrote as queued (scheduled ones wait for beat)."""
    pairs = [(d.id, d.channel) for d in deliveries if d.status == DeliveryStatus.queued]
    if not pairs:
        return

    try:
        publish(pairs)
    except Exception:  # the broker is down: the rows are committed, the sweeper will hand them over
        _broker_down(len(pairs))


def _broker_down(n: int) -> None:
    logging.getLogger(__name__).warning("broker unavailable; %d deliveries left for the sweeper", n, exc_info=True)


def _reviewing(fn, *args, **kwargs):
    """A review-chain decision; its refusals become ServiceErrors (403 wrong reviewer, 409 stale, 422 bad input)."""
    try:
        return fn(*args, **kwargs)
    except review_chains.ReviewRefused as exc:
        raise ServiceError(str(exc), status=exc.status) from exc


def approve(document_id: int, reviewer: str, *, settings: Settings | None = None,
            principal: Principal | None = None, step: int | str | None = None, comment: str = "") -> list[int]:
    """Sign off the current review step; after the last one, create the deliveries the submission held back.

    ``principal``: the person acting, checked against the step (None: a trusted internal caller). ``step``: the step
    the reviewer saw (refused when the document has moved on). Returns the new delivery ids ([] before the last step).
    """
    settings = settings or get_settings()
    with session_scope() as session:
        doc = _locked_document(session, document_id)
        if doc.status != DocumentStatus.pending_review:
            raise Conflict("该文件不在待审核状态")
        refusal = content_checks.approval_refusal(session, doc.id)  # the dictionary may have changed since submission
        if refusal:
            raise Conflict(refusal)
        if not _reviewing(review_chains.approve_step, session, doc, reviewer, principal=principal, step=step,
                          comment=comment):
            return []  # the next step waits: nothing is delivered before the last sign-off
        doc.status = DocumentStatus.active
        version = doc.versions[-1]
        deliveries = _create_deliveries(session, settings, doc, version, "publish", list(doc.entry.channels))
        ids = [d.id for d in deliveries]
    _enqueue_new(deliveries)
    return ids


def set_entry_review(entry_id: int, review: bool | None) -> CatalogEntryRow:
    """Admin: switch 保密审查 on or off for one catalog entry (None: follow the catalog file again).

    Stored on the row in a column that catalog syncs and re-imports never write, so the decision survives both.
    Documents already submitted keep their state; the switch applies to the next submission (and to a new version
    of a rejected document)."""
    with session_scope() as session:
        entry = session.scalars(select(CatalogEntryRow).where(CatalogEntryRow.id == entry_id)
                                .options(contains_eager(CatalogEntryRow.publisher)).join(Publisher)).first()
        if entry is None:
            raise NotFound(f"目录事项 {entry_id} 不存在")
        entry.review_override = review
        session.flush()
        session.expunge(entry)
        return entry


def reject(document_id: int, reviewer: str, reason: str, *, principal: Principal | None = None,
           step: int | str | None = None) -> None:
    with session_scope() as session:
        doc = _locked_document(session, document_id)
        if doc.status != DocumentStatus.pending_review:
            raise Conflict("该文件不在待审核状态")
        _reviewing(review_chains.reject_step, session, doc, reviewer, reason, principal=principal, step=step)
        doc.status = DocumentStatus.rejected
        doc.withdraw_reason = f"审核未通过（{reviewer}）：{reason}"


def _locked_document(session: Session, document_id: int) -> Document:
    doc = session.scalars(select(Document).where(Document.id == document_id).with_for_update()).first()
    if doc is None:
        raise NotFound(f"文件 {document_id} 不存在")
    return doc


def new_version(document_id: int, data: VersionRequest | dict, uploads: list[Upload] | None = None, *,
                settings: Settings | None = None) -> SubmitResult:
    """A correction: a new version, and an update delivery on every destination that delivered the previous one."""
    settings = settings or get_settings()
    req = data if isinstance(data, VersionRequest) else parse_version(data)
    with session_scope() as session:
        doc = _locked_document(session, document_id)
        if doc.status == DocumentStatus.withdrawn:
            raise Conflict("文件已撤回，不能再更正")
        prev = doc.versions[-1]
        title = req.title or prev.title
        source = req.body if req.body is not None else prev.body_source
        fmt = req.body_format if req.body is not None else prev.body_format
        html, errors, warnings = _check_body(source, fmt, req.confirm_personal_data or prev.personal_data_confirmed, settings)
        checked = content_checks.at_submission(session, title, html, req.confirm_content_warnings)
        errors += [FieldError(f, m) for f, m in checked.errors]
        warnings += checked.warnings
        options = {k: dict(v) for k, v in (doc.channel_options or {}).items()}
        for channel, values in req.channel_options.items():
            options[channel] = {**options.get(channel, {}), **values}
        doc_number = req.doc_number if req.doc_number is not None else prev.doc_number
        # The same channel limits as at submission: a new title too long for WeChat is refused before anything is kept.
        errors += _precheck(settings, list(doc.entry.channels), dict(
            document_id=doc.id, version=prev.version + 1, index_no=doc.index_no, title=title, body_html=html,
            doc_number=doc_number, formed_on=doc.formed_on, publisher=doc.publisher.name, entry_code=doc.entry.code,
            entry_path=tuple(doc.entry.path)), options)
        if errors:
            raise ServiceError(errors)
        doc.channel_options = options
        stored = _store_uploads(settings, uploads or [])
        version = DocumentVersion(
            document_id=doc.id, version=prev.version + 1, title=title, body_html=html, body_source=source, body_format=fmt,
            doc_number=doc_number, summary=prev.summary,
            change_note=req.change_note, personal_data_confirmed=req.confirm_personal_data or prev.personal_data_confirmed,
            content_hash=content_hash(title, html), created_by=req.submitted_by,
        )
        session.add(version)
        session.flush()
        content_checks.record(session, doc.id, version.version, checked, req.submitted_by)
        kept = [att.StoredAttachment(a.filename, a.content_type, a.size, a.sha256, att.blob_path(settings, a.sha256))
                for a in prev.attachments] if req.keep_attachments else []
        _add_attachments(session, version, kept + stored)
        doc.current_version = version.version
        doc.title = title
        new: list[NewDelivery] = []
        if doc.status == DocumentStatus.rejected:
            # A corrected version of a rejected document is a fresh request for review (nothing was ever sent).
            if review_chains.needs_review(session, doc.entry):
                doc.status = DocumentStatus.pending_review
                doc.withdraw_reason = f"上次{doc.withdraw_reason}" if doc.withdraw_reason else ""
                warnings.append(review_chains.start(session, doc.id, doc.entry, version=version.version,
                                                    actor=req.submitted_by, resubmit=True))
            else:  # the admin switched review off for this entry meanwhile: publish as a first submission would
                doc.status = DocumentStatus.active
                doc.withdraw_reason = ""
                new = _create_deliveries(session, settings, doc, version, "publish", list(doc.entry.channels))
        elif doc.status == DocumentStatus.pending_review:
            # In review (or sent back to the clerk): a resubmission, the chain restarts as configured.
            resubmitted = review_chains.on_new_version(session, doc, version.version, req.submitted_by)
            if resubmitted:
                warnings.append(resubmitted)
        elif doc.status == DocumentStatus.active:
            reached = _reached(session, doc)
            # Still-open deliveries of older versions are superseded: the new version goes out instead.
            for d in session.scalars(select(Delivery).where(Delivery.document_id == doc.id,
                                                             Delivery.status.in_(list(OPEN_STATUSES - {DeliveryStatus.sending})))):
                add_transition(session, d, DeliveryStatus.cancelled, f"已被第 {version.version} 版取代")
            follows = {(d.channel, d.destination): d for d in reached}
            channels_reached = sorted({d.channel for d in reached})
            updates = _create_deliveries(session, settings, doc, version, "update", channels_reached, follows)
            # Destinations never reached (failed, cancelled, or still pending) get the new version as a first publish.
            missing = [c for c in doc.entry.channels if c not in channels_reached]
            publishes = _create_deliveries(session, settings, doc, version, "publish", missing)
            new = updates + publishes
        result = SubmitResult(doc.id, doc.index_no, doc.due_date, doc.due_note, [d.id for d in new], warnings,
                              doc.due_date_provisional)
    _enqueue_new(new)
    return result


def _reached(session: Session, doc: Document) -> list[Delivery]:
    """The latest delivered publish/update per destination (what is live there now)."""
    rows = session.scalars(
        select(Delivery).where(Delivery.document_id == doc.id, Delivery.action.in_(["publish", "update"]),
                               Delivery.status.in_([*DONE_STATUSES, DeliveryStatus.awaiting_channel]))
        .order_by(Delivery.id)
    )
    latest: dict[tuple[str, str], Delivery] = {}
    for d in rows:
        latest[(d.channel, d.destination)] = d
    return list(latest.values())


def withdraw(document_id: int, reason: str, actor: str = "", *, settings: Settings | None = None) -> SubmitResult:
    """Withdraw: cancel whatever has not gone out, and a withdrawal delivery on every destination it reached.

    A delivery left ``not_configured`` never went out either: it is cancelled too, so the document reads 已撤回 once
    the withdrawals are done (not 撤回未完成 forever) and a later ops retry cannot publish the withdrawn text."""
    settings = settings or get_settings()
    if not reason.strip():
        raise ServiceError([FieldError("撤回原因", "必须填写撤回原因")])
    with session_scope() as session:
        doc = _locked_document(session, document_id)
        if doc.status == DocumentStatus.withdrawn:
            raise Conflict("文件已撤回")
        reached = _reached(session, doc)
        never_sent = [*(OPEN_STATUSES - {DeliveryStatus.sending}), DeliveryStatus.not_configured]
        for d in session.scalars(select(Delivery).where(Delivery.document_id == doc.id, Delivery.status.in_(never_sent))):
            add_transition(session, d, DeliveryStatus.cancelled, "文件已撤回", actor)
        doc.status = DocumentStatus.withdrawn
        doc.withdrawn_at = utcnow()
        doc.withdraw_reason = reason.strip()
        version = doc.versions[-1]
        registry = _registry(settings)
        out = []
        for prev in reached:
            dest = registry.destination(prev.channel, prev.destination)
            d = Delivery(
                document_id=doc.id, version_id=version.id, version=version.version, channel=prev.channel,
                destination=dest.name, action="withdraw",
                idempotency_key=_idempotency_key(doc.id, version.version, prev.channel, dest.name, "withdraw"),
                status=DeliveryStatus.queued, queued_at=utcnow(), max_attempts=settings.max_attempts, follows_id=prev.id,
            )
            session.add(d)
            out.append(d)
        session.flush()
        for d in out:
            session.add(DeliveryTransition(delivery_id=d.id, from_status="", to_status=d.status, reason=f"撤回：{reason}", actor=actor))
        result = SubmitResult(doc.id, doc.index_no, doc.due_date, doc.due_note, [d.id for d in out],
                              due_date_provisional=doc.due_date_provisional)
        new = [NewDelivery(d.id, d.channel, d.status) for d in out]
    _enqueue_new(new)
    return result


RETRYABLE = {DeliveryStatus.failed, DeliveryStatus.not_configured, DeliveryStatus.cancelled, DeliveryStatus.retrying}


def retry_delivery(delivery_id: int, actor: str = "") -> None:
    """Ops: give a failed (or not configured, or cancelled) delivery a fresh set of attempts, now."""
    with session_scope() as session:
        d = session.scalars(select(Delivery).where(Delivery.id == delivery_id).with_for_update()).first()
        if d is None:
            raise NotFound(f"投递 {delivery_id} 不存在")
        if d.status not in RETRYABLE:
            raise Conflict(f"投递当前状态为“{STATUS_LABELS.get(d.status, d.status)}”，不能重试")
        if d.document.status == DocumentStatus.withdrawn and d.action != "withdraw":
            raise Conflict("文件已撤回，不能重新发布")
        d.max_attempts = d.attempts + get_settings().max_attempts
        _reset_adapter_state(d)
        d.next_attempt_at = None
        d.last_error = ""
        add_transition(session, d, DeliveryStatus.pending, "人工重试", actor)
    _enqueue([delivery_id], fresh=False)


def _reset_adapter_state(d: Delivery) -> None:
    """Let the adapter forget per-item failures (e.g. push recipients out of attempts) before a manual retry."""
    reg = registry()
    try:
        adapter = reg.adapter_for(reg.destination(d.channel, d.destination))
    except PermanentError:
        return  # not configured: nothing to reset
    adapter.reset_for_retry(d.id)


def cancel_delivery(delivery_id: int, actor: str = "", reason: str = "") -> None:
    with session_scope() as session:
        d = session.scalars(select(Delivery).where(Delivery.id == delivery_id).with_for_update()).first()
        if d is None:
            raise NotFound(f"投递 {delivery_id} 不存在")
        if d.status not in OPEN_STATUSES | {DeliveryStatus.failed, DeliveryStatus.not_configured}:
            raise Conflict(f"投递当前状态为“{STATUS_LABELS.get(d.status, d.status)}”，不能取消")
        if d.status == DeliveryStatus.sending:
            raise Conflict("投递正在发送中，请稍后再取消")
        add_transition(session, d, DeliveryStatus.cancelled, reason or "人工取消", actor)


def confirm_delivery(delivery_id: int, who: str, note: str = "", when: dt.datetime | None = None,
                     evidence: Upload | None = None, url: str | None = None, *, settings: Settings | None = None) -> None:
    """A person did the manual work (or pasted the WeChat article): who, when, note, optional evidence file."""
    settings = settings or get_settings()
    if not who.strip():
        raise ServiceError([FieldError("经办人", "必须填写经办人")])
    stored = None
    if evidence is not None:
        try:
            stored = att.store(settings, evidence.filename, evidence.stream)
        except att.AttachmentError as exc:
            raise ServiceError([FieldError("凭证", str(exc))]) from exc
    with session_scope() as session:
        d = session.scalars(select(Delivery).where(Delivery.id == delivery_id).with_for_update()).first()
        if d is None:
            raise NotFound(f"投递 {delivery_id} 不存在")
        if d.status != DeliveryStatus.awaiting_confirmation:
            raise Conflict(f"投递当前状态为“{STATUS_LABELS.get(d.status, d.status)}”，无需确认")
        d.confirmed_by = who.strip()[:100]
        d.confirmed_at = when or utcnow()
        d.confirmation_note = note[:2000]
        if stored:
            d.evidence_sha256, d.evidence_filename = stored.sha256, stored.filename
        if url:
            d.receipt = {**(d.receipt or {}), "url": url}
        d.delivered_at = utcnow()
        add_transition(session, d, DeliveryStatus.delivered, f"人工确认：{note}"[:500], who)


STATUS_LABELS = {
    DeliveryStatus.scheduled: "定时待发",
    DeliveryStatus.pending: "待投递",
    DeliveryStatus.queued: "已排队",
    DeliveryStatus.sending: "发送中",
    DeliveryStatus.retrying: "等待重试",
    DeliveryStatus.awaiting_channel: "渠道处理中",
    DeliveryStatus.awaiting_confirmation: "待人工确认",
    DeliveryStatus.delivered: "已送达",
    DeliveryStatus.verified: "已核验上线",
    DeliveryStatus.failed: "失败",
    DeliveryStatus.not_configured: "渠道未配置",
    DeliveryStatus.cancelled: "已取消",
    DeliveryStatus.removed: "已被渠道删除",
}


def attachment_path(settings: Settings, sha256: str) -> Path:
    return att.blob_path(settings, sha256)
