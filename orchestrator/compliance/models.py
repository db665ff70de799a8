"""Tables of the compliance watch (migration 0014_compliance)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, Numeric, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.models import Base, utcnow


class LinkCheckRun(Base):
    """One pass of the link checker over the public outputs."""

    __tablename__ = "linkcheck_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    trigger: Mapped[str] = mapped_column(String(20), default="beat")  # beat / manual / test
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    pages: Mapped[int] = mapped_column(Integer, default=0)
    links: Mapped[int] = mapped_column(Integer, default=0)
    problems: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)  # private addresses, skipped hosts, over the link cap
    truncated: Mapped[bool] = mapped_column(Boolean, default=False)  # stopped at max pages / max links
    note: Mapped[str] = mapped_column(Text, default="")


OPEN_SQL = "resolved_at IS NULL"


class LinkProblem(Base):
    """A broken or suspicious link found on a public page; closed (resolved_at) when a later run no longer finds it."""

    __tablename__ = "link_problems"
    __table_args__ = (Index("ix_link_problems_open", "kind", postgresql_where=text(OPEN_SQL), sqlite_where=text(OPEN_SQL)),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of kind, page and link
    kind: Mapped[str] = mapped_column(String(30))
    page_url: Mapped[str] = mapped_column(Text)
    link_url: Mapped[str] = mapped_column(Text)
    link_text: Mapped[str] = mapped_column(String(200), default="")
    problem: Mapped[str] = mapped_column(String(300))  # in Chinese, for the page and the reports
    detail: Mapped[str] = mapped_column(Text, default="")
    first_seen: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_run_id: Mapped[int | None] = mapped_column(ForeignKey("linkcheck_runs.id"), nullable=True)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(nullable=True, index=True)


class ReportEntryTag(Base):
    """What a catalog entry's documents count as in the annual report (规章, 行政规范性文件, 行政许可 …), set by an admin."""

    __tablename__ = "report_entry_tags"

    entry_id: Mapped[int] = mapped_column(ForeignKey("catalog_entries.id"), primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(20))  # see orchestrator.compliance.annual.KINDS, or "none"
    updated_by: Mapped[str] = mapped_column(String(100), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AnnualFigure(Base):
    """A figure of the annual report entered by hand for a year (counts the product does not hold, 收费 in 万元)."""

    __tablename__ = "annual_figures"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    item: Mapped[str] = mapped_column(String(20), primary_key=True)  # license / penalty / coercion / fee
    value: Mapped[Decimal] = mapped_column(Numeric(16, 4))
    note: Mapped[str] = mapped_column(Text, default="")
    updated_by: Mapped[str] = mapped_column(String(100), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SelfInspection(Base):
    """A self-inspection report (自查报告): what each check found, with the items to fix (capped per check)."""

    __tablename__ = "self_inspections"

    id: Mapped[int] = mapped_column(primary_key=True)
    trigger: Mapped[str] = mapped_column(String(20), default="manual")  # manual / monthly
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    results: Mapped[list[Any]] = mapped_column(JSON, default=list)


class AnnualStatsCache(Base):
    """The per-channel publication and timeliness figures of a year, as last computed (they read every publication of
    the year: hundreds of thousands of rows on a platform). Beat refreshes the current year; the page says when."""

    __tablename__ = "annual_stats_cache"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    computed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    seconds: Mapped[float] = mapped_column(Numeric(10, 3), default=0)  # how long the computation took
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
