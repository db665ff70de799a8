"""What a document operation accepts and how it refuses: request models, uploads, results and the Chinese errors.

Shared by every document operation (:mod:`submission`, :mod:`versions`, :mod:`review`, :mod:`deliveries`) and by
the API, the web forms and the CLI that call them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import BinaryIO, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError


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


def date_range_text() -> str:
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
            raise ValueError(date_range_text())
        return v

    @field_validator("formed_on", "event_date")
    @classmethod
    def _plausible_date(cls, v: dt.date | None) -> dt.date | None:
        if v is not None and not date_in_range(v):
            raise ValueError(date_range_text())
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
              "related_document_id": "关联文件", "related_kind": "关联方式", "validity": "有效性",
              "validity_date": "有效性日期", "subject_words": "主题词", "event_date": "事件日期"}
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
