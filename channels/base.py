"""The one contract every channel adapter implements.

An adapter moves one document version to one destination. The fan-out task calls exactly one of
``publish`` / ``update`` / ``withdraw`` per delivery, and later ``verify`` (is it really live?) and, for
channels that finish asynchronously, ``poll``.

Outcomes:
- return a :class:`Receipt` (external id, public URL, anything needed later for update/withdraw);
- raise :class:`TransientError` (timeouts, connection errors, 5xx, 429, "system busy"): the delivery is retried with backoff;
- raise :class:`PermanentError` (other 4xx, bad configuration, content the channel refuses): the delivery fails at once;
- raise :class:`NotConfigured`: the destination lacks configuration; ops can retry once it is configured.

Messages in errors are shown to staff, so they are Simplified Chinese; ``detail`` carries the technical excerpt.

Idempotency: ``ctx.idempotency_key`` is stable across retries of one delivery. Before creating anything an adapter looks for
an earlier result (``ctx.checkpoint``, or the remote system searched by the key), so a retry after an unknown outcome never
creates a second copy. Multi-step adapters save progress with ``ctx.save_checkpoint`` after every completed step.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

M = TypeVar("M", bound=BaseModel)


class Action(StrEnum):
    publish = "publish"
    update = "update"
    withdraw = "withdraw"


class Capability(StrEnum):
    update = "update"  # can change a published item in place (otherwise update = publish new + optionally remove old)
    delete = "delete"  # can take an item down
    verify = "verify"  # can check that an item is live
    asynchronous = "asynchronous"  # publish returns before the channel has finished; poll() completes it
    manual = "manual"  # a person does the work and confirms it


class ChannelError(Exception):
    """Base of adapter errors. ``message`` is for staff (Chinese); ``detail`` is a technical excerpt."""

    def __init__(self, message: str, *, detail: str = "", code: str | None = None):
        super().__init__(message)
        self.message = message
        self.detail = detail[:2000]
        self.code = code


class TransientError(ChannelError):
    """Worth retrying later. ``retry_after`` (seconds) overrides the backoff when the channel said when."""

    def __init__(self, message: str, *, detail: str = "", code: str | None = None, retry_after: float | None = None):
        super().__init__(message, detail=detail, code=code)
        self.retry_after = retry_after


class PermanentError(ChannelError):
    """Retrying will not help until a person changes configuration or content."""


class NotConfigured(PermanentError):
    """The destination has no (or incomplete) configuration."""


@dataclass(frozen=True)
class AttachmentInfo:
    filename: str  # as the user named it (may be Chinese; never trust it as a path)
    content_type: str
    size: int
    sha256: str
    path: Path  # where the bytes are on local disk (content-addressed)


@dataclass(frozen=True)
class DocumentPayload:
    """Everything a channel may need to know about one document version."""

    document_id: int
    version: int
    index_no: str  # 索引号
    title: str
    body_html: str  # sanitised HTML
    doc_number: str  # 文号 ("" if none)
    formed_on: dt.date  # 生成日期
    publisher: str  # 发布机构
    entry_code: str
    entry_path: tuple[str, ...]  # 信息分类
    offices: tuple[str, ...] = ()
    attachments: tuple[AttachmentInfo, ...] = ()
    published_at: dt.datetime | None = None  # when it went (or goes) public, timezone-aware
    updated_at: dt.datetime | None = None  # when this version was made, timezone-aware
    display_from: dt.datetime | None = None
    display_until: dt.datetime | None = None
    site_url: str = ""  # the website copy, where known (for "阅读原文", QR codes)
    summary: str = ""
    validity: str = "有效"  # 有效性: 有效 / 已修改 / 已废止
    related: tuple[dict[str, Any], ...] = ()  # e.g. the policy a 政策解读 explains: {"document_id", "title", "url", "relation"}
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChannelPreview:
    """What a reviewer sees of one channel before approving: the channel's own output, made by the same code that
    delivers it, as one complete HTML document (served on its own route under a strict CSP, framed in a sandbox).

    ``content`` is the channel's output inside that page (the WeChat article HTML, the site page, the mail HTML …),
    for comparing with what the adapter sends; ``notes`` are Chinese remarks shown beside the frame (limits, which
    screen the slides are drawn for, …)."""

    caption: str
    html: str
    content: str = ""
    notes: tuple[str, ...] = ()


@dataclass
class Receipt:
    external_id: str | None = None
    url: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    # True when the channel accepted the work but finishes later (poll() completes it): delivery → awaiting_channel.
    pending: bool = False
    # True when a person must act (manual channels): delivery → awaiting_confirmation.
    needs_person: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "external_id": self.external_id,
            "url": self.url,
            "data": self.data,
            "pending": self.pending,
            "needs_person": self.needs_person,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Receipt | None:
        if not d:
            return None
        return cls(
            external_id=d.get("external_id"),
            url=d.get("url"),
            data=dict(d.get("data") or {}),
            pending=bool(d.get("pending")),
            needs_person=bool(d.get("needs_person")),
        )


@dataclass
class DeliveryContext:
    delivery_id: int
    idempotency_key: str
    channel: str
    destination: str
    action: Action
    document: DocumentPayload
    # The receipt of the delivery this one follows (the publish being updated or withdrawn), if any.
    previous_receipt: Receipt | None = None
    # Progress saved by earlier attempts of this same delivery.
    checkpoint: dict[str, Any] = field(default_factory=dict)
    save_checkpoint: Callable[[dict[str, Any]], None] = lambda _c: None
    attempt: int = 1
    # Set by a multi-step adapter when this attempt completed (and checkpointed) at least one step: if the attempt then
    # ends in a TransientError, the fan-out retries soon and does not count it against the attempt cap.
    progressed: bool = False


class ChannelConfig(BaseModel):
    """Base of an adapter's typed settings (its destination block in ``config/channels.yaml``).

    Unknown keys are kept (``extra="allow"``: a block may carry keys meant for the core, like ``label``); an empty value
    means the default; a value of the wrong type is refused when the adapter is built, with a Chinese message naming the
    key."""

    model_config = ConfigDict(extra="allow", frozen=True, coerce_numbers_to_str=True)

    @model_validator(mode="before")
    @classmethod
    def _empty_is_unset(cls, data: Any) -> Any:
        # ``key: ${ENV:-}`` expands to "" when the variable is unset: that means "use the default", as it always has.
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v is not None and v != ""}
        return data


_ERROR_TEXT = {
    "missing": "缺少此项",
    "int_parsing": "应为整数",
    "int_from_float": "应为整数",
    "int_type": "应为整数",
    "float_parsing": "应为数字",
    "float_type": "应为数字",
    "bool_parsing": "应为 true 或 false",
    "bool_type": "应为 true 或 false",
    "string_type": "应为文字",
    "list_type": "应为列表",
    "dict_type": "应为键值表",
    "literal_error": "取值不在允许范围内",
    "greater_than": "取值过小",
    "greater_than_equal": "取值过小",
    "less_than": "取值过大",
    "less_than_equal": "取值过大",
    "path_type": "应为路径",
    "url_parsing": "不是有效的网址",
    "url_scheme": "网址协议不受支持",
}


def config_problems(exc: ValidationError) -> list[str]:
    """Pydantic's errors as Chinese sentences: ``配置项“timeout”应为数字（收到：abc）``."""
    out = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err.get("loc", ())) or "（整体）"
        text = _ERROR_TEXT.get(err.get("type", ""), "取值无效")
        got = err.get("input")
        shown = "" if err.get("type") == "missing" or isinstance(got, dict) else f"（收到：{str(got)[:60]}）"
        out.append(f"配置项“{where}”{text}{shown}")
    return out


def parse_config(model: type[M], config: dict[str, Any] | None, name: str = "") -> M:
    """A destination block validated by ``model``; :class:`NotConfigured` with Chinese messages when it does not fit."""
    try:
        return model.model_validate(dict(config or {}))
    except ValidationError as exc:
        where = f"渠道“{name}”的配置有误" if name else "渠道配置有误"
        raise NotConfigured(f"{where}：{'；'.join(config_problems(exc))}", detail=str(exc)) from None


class Channel:
    """Base class of adapters. Subclasses set ``adapter`` and ``capabilities`` and override the actions they support.

    ``config`` is the destination's block from ``config/channels.yaml`` (with ``${ENV}`` references already expanded);
    ``settings`` is the same block validated by the adapter's ``config_model`` (a :class:`ChannelConfig` subclass) when
    the adapter is built, so a mistyped value fails at once with a Chinese message, never half-way through a delivery.
    """

    adapter: ClassVar[str] = ""
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    config_model: ClassVar[type[BaseModel]] = ChannelConfig
    # How the review page names this adapter's preview, and the frame's shape (page / phone / slides / mail / packet).
    preview_caption: ClassVar[str] = "通用预览（按公文版式显示标题、文号、正文和附件）"
    preview_frame: ClassVar[str] = "page"

    def __init__(self, config: dict[str, Any] | None = None, *, name: str = ""):
        self.config = dict(config or {})
        self.name = name or self.adapter
        self.settings: Any = parse_config(self.config_model, self.config, self.name)

    # --- the four actions -------------------------------------------------
    def publish(self, ctx: DeliveryContext) -> Receipt:
        raise NotImplementedError

    def update(self, ctx: DeliveryContext) -> Receipt:
        # Default for channels that cannot edit in place: publish the new version.
        return self.publish(ctx)

    def withdraw(self, ctx: DeliveryContext) -> Receipt:
        raise PermanentError(f"渠道“{self.name}”不支持撤回，请人工处理")

    def verify(self, ctx: DeliveryContext, receipt: Receipt) -> bool:
        """True when the item is really live (or really gone, for a withdrawal). Default: cannot tell."""
        return False

    def poll(self, ctx: DeliveryContext, receipt: Receipt) -> Receipt | None:
        """For asynchronous channels: the final receipt, None while still in progress; raises on failure."""
        return receipt

    def removal_reason(self, receipt: Receipt) -> str | None:
        """For a delivered item: a Chinese reason when the channel itself has taken it down since (deleted, banned),
        else None. Adapters that override it are re-checked periodically (``fanout.recheck_removed``). Default: None."""
        return None

    def precheck(self, document: DocumentPayload) -> list[str]:
        """Problems that would make this channel refuse the document, found before anything is sent.

        Called at submission time so a clerk sees them at once (e.g. a title too long for WeChat). Each
        problem is a Chinese sentence that names the field and the limit.
        """
        return []

    def preview(self, document: DocumentPayload, urls: Mapping[str, str] | None = None) -> ChannelPreview | None:
        """The document as this channel will show it, rendered with the code that delivers it, without sending.

        ``urls`` maps an attachment's file name to a URL the reviewer's browser can load it from (body images,
        attachment links). Default None: the review page shows the generic preview (title, 文号 and body in 公文
        layout and the attachment list, ``channels.preview.generic``); adapters with their own rendering override it.
        (The generic view lives in ``channels.preview``, which builds on ``channels.gongwen_html``: importing it here
        would close an import cycle through ``channels.staticout``.)"""
        return None

    def expected_url(self, document_id: int) -> str | None:
        """Where the document will be public on this destination, if that is known before publishing (else None).

        Lets other channels link to the website copy (WeChat 阅读原文, QR codes on screens) even when they go first."""
        return None

    def housekeeping(self) -> None:
        """Time-driven upkeep, run by beat about once a minute (e.g. drop expired notices from screen bundles)."""

    def profile_changed(self) -> None:
        """The agency profile (机关信息) was saved: regenerate the pages that show it when that is cheap (default: none;
        other pages pick it up the next time they are written)."""

    def reset_for_retry(self, delivery_id: int) -> None:
        """Ops retried a failed delivery: forget any per-item failure state the adapter keeps (default: none)."""

    # --- helpers ----------------------------------------------------------
    def run(self, ctx: DeliveryContext) -> Receipt:
        if ctx.action is Action.publish:
            return self.publish(ctx)
        if ctx.action is Action.update:
            return self.update(ctx)
        return self.withdraw(ctx)

    def require(self, *keys: str) -> None:
        missing = [k for k in keys if not self.config.get(k)]
        if missing:
            raise NotConfigured(f"渠道“{self.name}”缺少配置项：{'、'.join(missing)}")
