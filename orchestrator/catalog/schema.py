"""Typed shape of a catalog as stored in ``config/catalogs/*.yaml``.

The importer produces it, a person reviews it, everything else reads it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class TimeLimitKind(StrEnum):
    working_days = "working_days"  # N working days after the start day
    calendar_days = "calendar_days"  # N calendar days; a deadline on a non-working day moves to the next working day
    months = "months"  # N months
    immediate = "immediate"  # 即时公开 / 实时公开 / 及时公开: same or next working day
    with_related = "with_related"  # 与政策文件同步发布 (optionally with a grace period in days)
    after_event = "after_event"  # counts from an external event (approval, end of a comment period, a review)
    unknown = "unknown"  # text the importer could not type: kept and flagged for review


class TimeLimit(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    text: str = ""
    kind: TimeLimitKind = TimeLimitKind.unknown
    days: int | None = None
    months: int | None = None
    # What the count starts from: "formed" (信息形成或变更), "approval", "comment_period_end", "review", "related_document"...
    from_: str | None = Field(default=None, alias="from")
    # after_event with `days`: whether those are working or calendar days ("批复后20日内" counts calendar days).
    counting: Literal["working_days", "calendar_days"] | None = None
    # with_related: working days allowed after the related document ("时间跨度不超过5个工作日").
    grace_days: int | None = None
    # Two-part limits ("…10个工作日内公开，公示期不少于7个工作日"): how long the item stays posted after publication.
    posting_days: int | None = None
    posting_counting: Literal["working_days", "calendar_days"] | None = None


class Freshness(BaseModel):
    """How often the entry's column must show something new (栏目更新情况); every field optional, blank: the default
    by the entry's name (news-like 14 days, notices and policies six months)."""

    model_config = ConfigDict(extra="forbid")

    days: int | None = Field(default=None, ge=1, le=3650)  # stale after this many days without a publication
    warn_days: int | None = Field(default=None, ge=0, le=365)  # warn this many days before
    keep_current: bool | None = None  # a standing fact (机构职能, 领导信息 …): ask "内容仍准确吗?" periodically
    confirm_months: int | None = Field(default=None, ge=1, le=60)


class CatalogEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    path: list[str] = Field(min_length=1)
    content: str = ""
    basis: str = ""  # 公开依据
    time_limit: TimeLimit = Field(default_factory=TimeLimit)
    keep_public: bool = False
    publisher: str = ""
    channels: list[str] = Field(default_factory=list)
    channel_labels: list[str] = Field(default_factory=list)
    audience: str = ""  # 全社会 / 特定群体
    disclosure_method: str = ""  # 公开方式 (主动/依申请)
    level: str = ""  # 公开层级
    offices: list[str] = Field(default_factory=list)
    inherited: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    # Per-entry options a person may add after import (review step, display period, push groups, ...).
    options: dict = Field(default_factory=dict)
    # Column freshness rule (optional; orchestrator/freshness.py).
    freshness: Freshness | None = None
    # Columns the product does not use (条款内容, 依据效力位阶, 事项类别, 备注…), kept as printed: header label → text.
    extra: dict[str, str] | None = None
    # Where the entry came from in the imported file: line/row numbers of its source rows (for review beside the source).
    source_lines: list[int] | None = None
    # The source row was cut off (last row of a truncated file): nothing was completed by guessing.
    incomplete: bool | None = None

    @field_validator("path")
    @classmethod
    def _path_items_not_blank(cls, v: list[str]) -> list[str]:
        if any(not p.strip() for p in v):
            raise ValueError("事项路径中不能有空项")
        return v

    @property
    def path_text(self) -> str:
        return "/".join(self.path)

    @property
    def needs_review(self) -> bool:
        return bool(self.warnings)


class Catalog(BaseModel):
    model_config = ConfigDict(extra="forbid")

    publisher: str
    # Prefix of the index number (索引号), usually the unified social credit code.
    index_prefix: str = ""
    source: str = ""
    # The catalog's own title line when the file held one (several catalogs on one page are told apart by it).
    title: str | None = None
    entries: list[CatalogEntry]
    warnings: list[str] = Field(default_factory=list)

    def find(self, ref: str) -> CatalogEntry | None:
        """An entry by code or by path written 一级/二级[/三级]."""
        ref = ref.strip().strip("/")
        for e in self.entries:
            if e.code == ref or e.path_text == ref:
                return e
        return None
