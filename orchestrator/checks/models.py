"""Tables of the content checks: dictionary entries, the dictionary's version counter, history scans and their hits,
and the warnings a submitter acknowledged."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.models import Base, utcnow


class ContentCheckTerm(Base):
    """One dictionary entry. ``term`` is the wrong form (or, for ``leader``, the person's name); ``suggestion`` the
    correct form (for ``leader``: the exact title(s), separated by 、); ``variants`` known misspellings of a name."""

    __tablename__ = "content_check_terms"
    __table_args__ = (UniqueConstraint("category", "term", name="uq_content_check_terms_category_term"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    category: Mapped[str] = mapped_column(String(20))  # sensitive | typo | renamed | leader | allow
    term: Mapped[str] = mapped_column(String(100))
    suggestion: Mapped[str] = mapped_column(String(200), default="")
    severity: Mapped[str] = mapped_column(String(10), default="warn")  # block | warn | note
    since: Mapped[dt.date | None] = mapped_column(Date, nullable=True)  # renamed bodies: the date of the reform
    note: Mapped[str] = mapped_column(String(500), default="")
    variants: Mapped[list[str]] = mapped_column(default=list)
    updated_by: Mapped[str] = mapped_column(String(100), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ContentCheckState(Base):
    """A single row (id 1): the dictionary's version, bumped by every change. Matchers are cached per version."""

    __tablename__ = "content_check_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ContentCheckRun(Base):
    """One scan of everything already published, in batches ordered by document id (``cursor`` = last id done)."""

    __tablename__ = "content_check_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(20), default="queued")  # queued running done failed superseded
    trigger: Mapped[str] = mapped_column(String(500), default="")
    dictionary_version: Mapped[int] = mapped_column(Integer, default=0)
    cursor: Mapped[int] = mapped_column(Integer, default=0)
    documents_scanned: Mapped[int] = mapped_column(Integer, default=0)
    documents_with_hits: Mapped[int] = mapped_column(Integer, default=0)
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)  # severity → hits
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class ContentCheckHit(Base):
    __tablename__ = "content_check_hits"
    __table_args__ = (Index("ix_content_check_hits_run", "run_id", "document_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("content_check_runs.id", ondelete="CASCADE"))
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    field: Mapped[str] = mapped_column(String(10))  # 标题 | 正文
    category: Mapped[str] = mapped_column(String(20))
    severity: Mapped[str] = mapped_column(String(10))
    term: Mapped[str] = mapped_column(String(200))
    suggestion: Mapped[str] = mapped_column(String(300), default="")
    context: Mapped[str] = mapped_column(String(300), default="")
    position: Mapped[int] = mapped_column(Integer, default=0)


class ContentCheckAck(Base):
    """Warnings a submitter acknowledged for one version (who, when, which hits)."""

    __tablename__ = "content_check_acks"

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    acknowledged_by: Mapped[str] = mapped_column(String(100), default="")
    hits: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
